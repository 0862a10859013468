"""The JSON log lines: one object per line, without uvicorn's ANSI-coloured duplicate message."""

import io
import json
import logging

from service import observability


def test_uvicorn_color_message_is_not_logged(monkeypatch):
    stream = io.StringIO()
    monkeypatch.setattr(observability.sys, "stderr", stream)
    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    try:
        observability.configure_logging("INFO")
        # what uvicorn's server logger does on start-up
        logging.getLogger("uvicorn.error").info("Uvicorn running on %s", "http://127.0.0.1:9300",
                                                extra={"color_message": "Uvicorn running on \x1b[1m%s\x1b[0m"})
    finally:
        root.handlers[:] = saved_handlers
        root.setLevel(saved_level)
    line = json.loads(stream.getvalue().splitlines()[-1])
    assert line["message"] == "Uvicorn running on http://127.0.0.1:9300"
    assert "color_message" not in line
    assert "\x1b" not in stream.getvalue()
