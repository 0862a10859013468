"""REST API v0.0.39 (Slurm 23.02): the first data_parser format — wrapped numbers, a list environment.

Schema used: SchedMD's generated Slurm 23.02 REST reference (`rest_api.shtml`, models `v0.0.39_job_submission`,
`v0.0.39_job_desc_msg`, `v0.0.39_job_info`, `v0.0.39_controller_ping`, `v0.0.39_error`,
`v0.0.39_job_submission_response`), cross-checked with the client generated from it
(heromicro/slurmrestapi.py `docs/V0039JobDescMsg.md`, `docs/V0039JobSubmission.md`) and with real 23.02.8
bodies recorded by rackslab/Slurm-web (`slurmweb/tests/assets/slurmrestd/23.02/slurm-jobs.json`, `slurm-ping.json`).
A trimmed transcription is in tests/fixtures/slurmrestd/v0.0.39/openapi-trimmed.json.

What changed from v0.0.37/38, and what this class encodes:
* submit: `job.environment` is an array of "K=V" strings (required); `time_limit` is a `v0.0.39_uint32_no_val`
  and `memory_per_node` a `v0.0.39_uint64_no_val` (`{set, infinite, number}`), while `cpus_per_task` stays a
  plain integer. `script` is declared both top level and in `job`; we send `job.script`, the form v0.0.40
  documents and v0.0.41 requires (top level deprecated).
* listing: `exit_code`, `time_limit` (and most counts) are `{set, infinite, number}`; unset/infinite → None.
  `exit_code.number` is still the raw wait status. Slurm 23.02.4 re-tagged `exit_code` as "complex", so the
  verbose `{status, return_code, signal}` object of v0.0.40 is accepted here too. `job_state` is a string.
* ping: `pings[].pinged` ("UP"/"DOWN") replaces 22.05's `ping`.
* errors: one shape, `{error_number, error, source, description}` (the inherited parser reads it).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from service.schedulers.slurm_rest.adapters.base import SlurmJob, SubmitRequest
from service.schedulers.slurm_rest.adapters.v0_0_38 import V0038Adapter


def no_val(number: int) -> dict[str, Any]:
    """A set `uintNN_no_val` value, as the submit schemas declare it."""
    return {"set": True, "infinite": False, "number": int(number)}


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


class V0039Adapter(V0038Adapter):
    version = "v0.0.39"

    def submit_body(self, request: SubmitRequest) -> dict[str, Any]:
        return {"job": {**self.job_description(request), "script": request.script}}

    @staticmethod
    def _environment(environment: Mapping[str, str]) -> list[str]:
        return [f"{key}={value}" for key, value in environment.items()]

    @staticmethod
    def _limit(number: int) -> dict[str, Any]:
        return no_val(number)

    def parse_job(self, raw: Mapping[str, Any]) -> SlurmJob:
        return replace(super().parse_job(raw), exit_code=self._exit_code(raw.get("exit_code")))

    def ping_ok(self, body: Mapping[str, Any]) -> bool:
        pings = body.get("pings") if isinstance(body, Mapping) else None
        return bool(pings) and all(isinstance(p, Mapping) and self._answered(p) for p in pings)

    # -- field conversions -------------------------------------------------------------------
    @staticmethod
    def _answered(ping: Mapping[str, Any]) -> bool:
        if isinstance(ping.get("responding"), bool):  # later data_parsers add it beside `pinged`
            return ping["responding"]
        return str(ping.get("pinged", ping.get("ping", ""))).upper() == "UP"

    @staticmethod
    def _number(value: Any) -> int | None:
        """A plain integer or a `{set, infinite, number}` object; unset or infinite → None."""
        if isinstance(value, Mapping):
            if value.get("infinite") is True or value.get("set") is False:
                return None
            return _int(value.get("number"))
        return _int(value)

    @classmethod
    def _exit_code(cls, value: Any) -> int | None:
        """Any exit_code shape → the raw wait status (exit N → N << 8; signal S → S, | 0x80 if it dumped core)."""
        if not (isinstance(value, Mapping) and ("status" in value or "return_code" in value or "signal" in value)):
            return cls._number(value)  # plain int or uint32_no_val: already the raw status
        status = value.get("status")
        statuses = {str(s).upper() for s in (status if isinstance(status, list) else [status]) if s}
        signal = value.get("signal")
        signal_id = cls._number(signal.get("id")) if isinstance(signal, Mapping) else None
        if signal_id and statuses & {"SIGNALED", "CORE_DUMPED"}:
            return (signal_id & 0x7F) | (0x80 if "CORE_DUMPED" in statuses else 0)
        return_code = cls._number(value.get("return_code"))
        if return_code is None or statuses & {"PENDING", "INVALID"}:
            return None
        return (return_code & 0xFF) << 8
