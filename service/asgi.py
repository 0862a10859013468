"""ASGI entry point for uvicorn (`service.asgi:app`), configured from the environment."""

import warnings

# Connexion imports Starlette's test client at import time, which warns about httpx in every
# server start-up log; the test client is never used by the running service.
warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")

from service.app import create_app  # noqa: E402
from service.api.middleware.header_casing import HeaderCasingMiddleware  # noqa: E402

# outside everything: header names are spelled last, on their way to the server
app = HeaderCasingMiddleware(create_app())
