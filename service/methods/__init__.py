"""HyPhy method registry (see registry.py) and option types (options.py)."""

from service.methods.registry import METHODS, Method, Resources, get_method

__all__ = ["METHODS", "Method", "Resources", "get_method"]
