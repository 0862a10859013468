"""REST API v0.0.37 as served by Slurm 22.05 (the "22.05 wire format", shared with v0.0.38).

Facts (../shared/reference/slurmrestd-22.05.md §3-§6): `script` is top level beside `job`;
`environment` is a non-empty object; `memory_per_node` MB and `time_limit` minutes are plain
integers; `job_state` is an upper-case string; `exit_code` a raw wait status; times are epoch
seconds with 0 for "not yet"; errors come in three shapes ({error_code, error},
{description, error_number, error, source}, {error, errno}).
"""

from __future__ import annotations

from typing import Any, Mapping

from service.schedulers.slurm_rest.adapters.base import RestAdapter, SlurmError, SlurmJob, SubmitRequest, SubmitResult


class V0037Adapter(RestAdapter):
    version = "v0.0.37"

    def submit_body(self, request: SubmitRequest) -> dict[str, Any]:
        return {"job": self.job_description(request), "script": request.script}

    def job_description(self, request: SubmitRequest) -> dict[str, Any]:
        """The `job` object every version sends; later versions change how fields are encoded."""
        return {
            "name": request.name,
            "partition": request.partition,
            "current_working_directory": request.current_working_directory,
            "environment": self._environment(request.environment),
            "standard_output": request.standard_output,
            "standard_error": request.standard_error,
            "cpus_per_task": int(request.cpus_per_task),
            "memory_per_node": self._limit(request.memory_per_node_mb),
            "time_limit": self._limit(request.time_limit_min),
        }

    @staticmethod
    def _environment(environment: Mapping[str, str]) -> Any:
        return dict(environment)

    @staticmethod
    def _limit(number: int) -> Any:
        return int(number)

    def parse_submit(self, body: Mapping[str, Any]) -> SubmitResult:
        job_id = body.get("job_id") if isinstance(body, Mapping) else None
        return SubmitResult(
            job_id=int(job_id) if isinstance(job_id, int) and not isinstance(job_id, bool) else None,
            errors=self.parse_errors(body),
            user_message=str(body.get("job_submit_user_msg") or "") if isinstance(body, Mapping) else "",
        )

    def parse_jobs(self, body: Mapping[str, Any]) -> list[SlurmJob]:
        jobs = body.get("jobs") if isinstance(body, Mapping) else None
        return [self.parse_job(raw) for raw in jobs or [] if isinstance(raw, Mapping)]

    def parse_job(self, raw: Mapping[str, Any]) -> SlurmJob:
        return SlurmJob(
            job_id=int(raw["job_id"]),
            name=str(raw.get("name") or ""),
            state=self._state(raw.get("job_state")),
            reason=str(raw.get("state_reason") or ""),
            exit_code=self._number(raw.get("exit_code")),
            submit_time=self._time(raw.get("submit_time")),
            start_time=self._time(raw.get("start_time")),
            end_time=self._time(raw.get("end_time")),
            cluster=str(raw.get("cluster") or ""),
            time_limit=self._number(raw.get("time_limit")),
            user_name=str(raw.get("user_name") or ""),
            partition=str(raw.get("partition") or ""),
            restart_count=self._number(raw.get("restart_cnt")),
        )

    def parse_last_update(self, body: Mapping[str, Any]) -> int | None:
        """Absent in 22.05; a wrapped number from v0.0.40 on (0 in a "no change" answer)."""
        return self._time(body.get("last_update")) if isinstance(body, Mapping) else None

    def parse_errors(self, body: Any) -> list[SlurmError]:
        errors = body.get("errors") if isinstance(body, Mapping) else None
        parsed = []
        for raw in errors or []:
            if not isinstance(raw, Mapping):
                continue
            code = next((raw[k] for k in ("error_code", "error_number", "errno") if isinstance(raw.get(k), int)), None)
            parsed.append(SlurmError(code=code, message=str(raw.get("error") or ""),
                                     description=str(raw.get("description") or ""), source=str(raw.get("source") or "")))
        return parsed

    def ping_ok(self, body: Mapping[str, Any]) -> bool:
        pings = body.get("pings") if isinstance(body, Mapping) else None
        return bool(pings) and all(isinstance(p, Mapping) and str(p.get("ping", "")).upper() == "UP" for p in pings)

    # -- field conversions (v0.0.39+ override these for their wrapped numbers and state lists) --
    @staticmethod
    def _state(value: Any) -> str:
        return str(value or "").upper()

    @staticmethod
    def _number(value: Any) -> int | None:
        return value if isinstance(value, int) and not isinstance(value, bool) else None

    @classmethod
    def _time(cls, value: Any) -> int | None:
        number = cls._number(value)
        return number if number else None
