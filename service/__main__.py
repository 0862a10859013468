"""`python -m service`: load `.env`, validate configuration, serve with uvicorn."""

from __future__ import annotations

import sys

import uvicorn
from dotenv import load_dotenv

from service.config import ConfigError, Settings


def main() -> int:
    load_dotenv()
    try:
        settings = Settings.from_environ()
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    # One worker process: the LocalScheduler's queue lives in it (trackers are multi-process safe).
    # h11, not httptools: httptools lowercases every response header name it writes, h11 keeps the
    # casing the app sends (`X-Session-Token`, see service/api/middleware/header_casing.py).
    uvicorn.run("service.asgi:app", host=settings.SERVICE_HOST, port=settings.SERVICE_DATAMONKEY_PORT,
                workers=1, log_config=None, access_log=False, http="h11")
    return 0


if __name__ == "__main__":
    sys.exit(main())
