"""ASGI middlewares of the HTTP side, one per module; service/api/application.py stacks them."""
