"""Thin HTTP handlers. `operation_table` maps each operationId in openapi.yaml to its function.

Method operations carry `x-datamonkey-method` / `x-datamonkey-action` in the spec, so the 48
start/result operations of 16 methods resolve to three generic handlers bound to a method name.
"""

from __future__ import annotations

import functools
from typing import Any, Callable

from service.api import datasets, health, jobs, methods, metrics

HANDLERS: dict[str, Callable] = {
    "getHealth": health.get_health,
    "getMethodsList": methods.list_methods,
    "getDatasetsList": datasets.list_datasets,
    "PostDataset": datasets.upload_dataset,
    "getDatasetById": datasets.get_dataset,
    "deleteDataset": datasets.delete_dataset,
    "getDatasetContent": datasets.get_dataset_content,
    "getJobsList": jobs.list_jobs,
    "getJobById": jobs.get_job,
    "deleteJob": jobs.delete_job,
    "cancelJob": jobs.cancel_job,
    "annotateJob": jobs.annotate_job,
    "retryJob": jobs.retry_job,
    "getJobLogs": jobs.get_job_logs,
    "getJobReport": jobs.get_job_report,
    "getMetrics": metrics.get_metrics,
}
METHOD_ACTIONS = {"start": methods.start, "result": methods.result_for_request, "result_by_id": methods.result_by_id}


def operation_table(spec: dict[str, Any]) -> dict[str, Callable]:
    """operationId → handler, for Connexion's resolver (`spec` is the parsed openapi.yaml)."""
    table = dict(HANDLERS)
    for path_item in spec["paths"].values():
        for operation in path_item.values():
            if isinstance(operation, dict) and "x-datamonkey-method" in operation:
                handler = METHOD_ACTIONS[operation["x-datamonkey-action"]]
                table[operation["operationId"]] = _bind(handler, operation["x-datamonkey-method"])
    return table


def _bind(handler: Callable, method_id: str) -> Callable:
    @functools.wraps(handler)
    def bound(**kwargs):
        return handler(method_id, **kwargs)

    return bound
