"""Dataset operations with ownership: upload (streamed), read, list, delete (refused while used),
and what jobs need of datasets: the request's datasets by role, their profiles, their bytes.

The job service reaches the dataset store only through this service."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any, BinaryIO, Callable, Mapping

from service.datasets.embedded_tree import drop_embedded_tree
from service.datasets.intake import stream_to_file
from service.datasets.profile import Profile, ProfileStore, StopReport
from service.errors import Conflict, DatasetsNotFound, FieldError, InvalidRequest, NotFound
from service.identity import Identity, require_owner
from service.trackers.datasets import DatasetRecord, FileDatasetTracker

log = logging.getLogger(__name__)
META_FIELDS = ("name", "description", "type")
MAX_META_LENGTH = 10_000


def parse_meta(raw: Any) -> dict[str, str]:
    """The multipart `meta` part: JSON text (upstream clients send it so) or an already parsed object."""
    if raw is None or raw == "":
        return {}
    if isinstance(raw, (str, bytes)):
        try:
            raw = json.loads(raw)
        except ValueError as exc:
            raise InvalidRequest(FieldError("meta", f"must be a JSON object with name/type/description: {exc}")) from None
        except RecursionError:  # e.g. thousands of nested brackets
            raise InvalidRequest(FieldError("meta", "must be a JSON object with name/type/description "
                                                    "(this one is nested too deeply)")) from None
    if not isinstance(raw, dict):
        raise InvalidRequest(FieldError("meta", "must be a JSON object with name/type/description"))
    errors = [FieldError(f"meta.{k}", "unknown field; allowed: name, description, type") for k in raw if k not in META_FIELDS]
    for key in META_FIELDS:
        value = raw.get(key, "")
        if not isinstance(value, str):
            errors.append(FieldError(f"meta.{key}", "must be a string"))
        elif len(value) > MAX_META_LENGTH or "\0" in value:
            errors.append(FieldError(f"meta.{key}", f"must be text of at most {MAX_META_LENGTH} characters"))
    if errors:
        raise InvalidRequest(errors)
    return {k: raw.get(k, "") for k in META_FIELDS}


#: DATASET_MAX_SEQUENCES / DATASET_MAX_SITES defaults (service.config.Settings); 0 = unlimited.
DEFAULT_MAX_SEQUENCES = 5000
DEFAULT_MAX_SITES = 100_000


class DatasetService:
    def __init__(self, tracker: FileDatasetTracker, max_bytes: int, jobs_using: Callable[[str], list], *,
                 max_sequences: int = DEFAULT_MAX_SEQUENCES, max_sites: int = DEFAULT_MAX_SITES):
        """`jobs_using`: dataset id → the non-final jobs using it (the job service's
        `active_using`; a callable, so this service needs no job service to be built first)."""
        self.tracker = tracker
        #: profiles of the stored contents, cached in memory and beside the blobs
        self.profiles = ProfileStore(tracker)
        self.max_bytes = max_bytes
        self.max_sequences = max_sequences
        self.max_sites = max_sites
        self.jobs_using = jobs_using

    def upload(self, identity: Identity, meta: dict[str, str], stream: BinaryIO) -> tuple[DatasetRecord, bool]:
        fd, path = self.tracker.incoming_file()
        intake = stream_to_file(stream, fd, path, self.max_bytes)
        try:
            # Read once per content (a known content's stored profile is reused), stored only if accepted.
            profile = self.profiles.profile(intake.sha256, intake.format, intake.path, persist=False)
            self._check_limits(profile)
        except BaseException:
            path.unlink(missing_ok=True)  # refused: no blob, no record, no profile
            raise
        record, created = self.tracker.add(identity.owner, meta, intake.path, intake.sha256, intake.size, intake.format,
                                           intake.alphabet)
        self.profiles.save(intake.sha256, profile)
        log.info("dataset stored", extra={"dataset_id": record.id, "size": record.size, "format": record.format, "alphabet": record.alphabet, "new": created})
        return record, created

    def _check_limits(self, profile: Profile) -> None:
        """DATASET_MAX_SEQUENCES / DATASET_MAX_SITES: a 422 naming the limit (see .env.example for
        why 422 and not 413: the bytes were within DATASET_MAX_BYTES, the content's shape is not)."""
        errors = []
        count, what = (profile.sequences, "sequences") if profile.names else \
            (len(profile.tree.tips) if profile.tree else 0, "tree tips")
        if self.max_sequences and count > self.max_sequences:
            errors.append(FieldError("file", f"the dataset holds {count} {what}; this server accepts at most "
                                             f"{self.max_sequences} sequences per dataset (DATASET_MAX_SEQUENCES)"))
        if self.max_sites and profile.sites > self.max_sites:
            errors.append(FieldError("file", f"the alignment is {profile.sites} sites (columns) long; this server "
                                             f"accepts at most {self.max_sites} sites per dataset (DATASET_MAX_SITES)"))
        if errors:
            raise InvalidRequest(errors)

    def get(self, identity: Identity, ds_id: str) -> DatasetRecord:
        record = self.tracker.get(ds_id)
        if record is None:
            raise NotFound("Dataset not found")
        require_owner(identity, record.owner, "dataset")
        return record

    def list(self, identity: Identity) -> list[DatasetRecord]:
        return self.tracker.list_owner(identity.owner)

    def content_path(self, record: DatasetRecord) -> Path:
        """Where the dataset's bytes are stored (read only: the blob is shared by every dataset of
        this content)."""
        return self.tracker.blob_path(record.content_sha256)

    def content_text(self, record: DatasetRecord) -> str:
        """The dataset's content as text (undecodable bytes replaced)."""
        return self.content_path(record).read_text(errors="replace")

    # -- for jobs ------------------------------------------------------------------------------
    def find(self, ds_id: str) -> DatasetRecord | None:
        """The dataset, whoever owns it, or None (a job's own datasets, its owner checked before)."""
        return self.tracker.get(ds_id)

    def for_request(self, identity: Identity, dataset_ids: Mapping[str, str | None]) -> dict[str, DatasetRecord]:
        """A job request's datasets by role (`alignment`, `tree`; roles without an id left out),
        each owned by `identity`; DatasetsNotFound naming every unknown id at once."""
        found = {role: self.tracker.get(ds_id) for role, ds_id in dataset_ids.items() if ds_id}
        missing = {role: dataset_ids[role] for role, record in found.items() if record is None}
        if missing:
            raise DatasetsNotFound(missing)
        for role, record in found.items():
            require_owner(identity, record.owner, f"dataset ({role} '{dataset_ids[role]}')")
        return found  # type: ignore[return-value]

    def profile(self, record: DatasetRecord) -> Profile:
        """What the dataset holds (service.datasets.profile), read once per content and kept."""
        return self.profiles.profile(record.content_sha256, record.format)

    def stops(self, record: DatasetRecord, code: str) -> StopReport:
        """The dataset's stop codons under genetic code `code` (a HyPhy --code name)."""
        return self.profiles.stops(record.content_sha256, record.format, code)

    def copy_content(self, record: DatasetRecord, destination: Path, *, without_embedded_tree: bool = False) -> None:
        """Copy the dataset's bytes to `destination` (a job's input: a copy, so no job can alter a
        blob); `without_embedded_tree` drops a tree written inside an alignment from the copy
        (service/datasets/embedded_tree.py)."""
        self.tracker.copy_content(record, destination)
        if without_embedded_tree:
            drop_embedded_tree(destination, record.format)

    def delete(self, identity: Identity, ds_id: str) -> None:
        record = self.get(identity, ds_id)
        users = self.jobs_using(ds_id)
        if users:
            raise Conflict(f"dataset {ds_id} is used by {len(users)} unfinished job(s) "
                           f"({', '.join(j.job_id for j in users[:5])}); cancel or await them first")
        if self.tracker.delete(record):
            self.profiles.forget(record.content_sha256)
        log.info("dataset deleted", extra={"dataset_id": ds_id})
