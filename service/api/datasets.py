"""Dataset endpoints. The upload is streamed from Werkzeug's spooled file to the store."""

from __future__ import annotations

from flask import request, send_file

from service.api import views
from service.api.common import identity, services
from service.datasets.service import parse_meta
from service.errors import ClientError, FieldError, InvalidRequest


def list_datasets(**_params):
    return {"datasets": [views.dataset(r) for r in services().datasets.list(identity())]}, 200


def upload_dataset(**_params):
    unreadable = _unreadable_form()
    if unreadable:
        raise InvalidRequest(FieldError("body", unreadable))
    who = identity(request.form.get("user_token"), may_open_session=True)
    meta = parse_meta(request.form.get("meta") or (request.files["meta"].read() if "meta" in request.files else None))
    upload = request.files.get("file")
    if upload is None:
        message = "URL uploads are not supported: send the file itself" if request.form.get("url") else "required: the alignment or tree file"
        raise InvalidRequest(FieldError("file", message))
    record, _created = services().datasets.upload(who, meta, upload.stream)
    services().sessions.open_session(who)
    headers = {"X-Session-Token": who.new_token} if who.new_token else {}
    # `id` is what the Go service answers and public clients read; `datasets` is both specs' body
    return {"id": record.id, "datasets": [views.dataset(record)]}, 201, headers


def _unreadable_form() -> str | None:
    """Why a non-empty body yielded no form part at all (Werkzeug skips a malformed form silently)."""
    if request.form or request.files:
        return None
    sent = (request.content_length or 0) > 0 or "chunked" in request.headers.get("Transfer-Encoding", "").lower()
    if not sent:
        return None
    if request.mimetype != "multipart/form-data":
        return "the upload must be multipart/form-data (parts `file` and `meta`)"
    if not request.mimetype_params.get("boundary"):
        return "multipart/form-data without a boundary parameter in Content-Type"
    return "malformed multipart/form-data body: no form part could be read (check the boundary)"


def get_dataset(dataset_id: str, include_content: bool = False, **_params):
    wired = services()
    record = wired.datasets.get(identity(), dataset_id)
    body = views.dataset(record)
    if include_content:
        body["content"] = wired.datasets.content_text(record)
    return body, 200


def get_dataset_content(dataset_id: str, **_params):
    wired = services()
    record = wired.datasets.get(identity(), dataset_id)
    response = send_file(wired.datasets.content_path(record), mimetype="text/plain",
                         as_attachment=True, download_name=f"{record.id}.txt")
    if response.status_code == 412:  # Werkzeug keeps the whole file as the body of its 412
        response.close()
        raise ClientError(412, "Precondition Failed: the dataset's content does not match If-Match")
    return response


def delete_dataset(dataset_id: str, **_params):
    services().datasets.delete(identity(), dataset_id)
    return None, 204
