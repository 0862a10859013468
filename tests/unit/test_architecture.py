"""The import rules of docs/ARCHITECTURE.md, checked on every module's source (imports inside
functions included: a lazy import is still a dependency).

- only the HTTP wing (service/api/) imports the web stack (Connexion, Flask, Starlette, Werkzeug);
- the domain never imports the HTTP wing or the app assembly (only service/app.py and
  service/asgi.py do);
- the trackers (file stores) import nothing above them;
- schedulers speak no HTTP to their callers (no service.errors: they raise their own neutral
  errors, mapped once in service/api/errors.py) and depend on nothing above them (no methods,
  jobs, datasets, reports, identity).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SERVICE = Path(__file__).resolve().parents[2] / "service"
WEB_STACK = ("connexion", "flask", "starlette", "werkzeug", "a2wsgi")
ABOVE_SCHEDULERS = ("service.errors", "service.api", "service.app", "service.jobs", "service.datasets",
                    "service.methods", "service.reports", "service.identity", "service.logs")


def imports(source: str, package: str) -> set[str]:
    """Every module a module of `package` with this source imports, as absolute names."""
    tree = ast.parse(source)
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[:len(parts) - node.level + 1] + ([base] if base else []))
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return names


def modules(under: str = "") -> list[Path]:
    return sorted((SERVICE / under).rglob("*.py"))


def offending(path: Path, prefixes: tuple[str, ...]) -> list[str]:
    package = ".".join(path.relative_to(SERVICE.parent).parts[:-1])
    return matching(imports(path.read_text(encoding="utf-8"), package), prefixes)


def matching(names: set[str], prefixes: tuple[str, ...]) -> list[str]:
    return sorted(name for name in names if any(name == p or name.startswith(p + ".") for p in prefixes))


def name(path: Path) -> str:
    return str(path.relative_to(SERVICE.parent))


def test_the_rules_see_lazy_and_relative_imports():
    """The checker itself (else the rules below could not fail): an import inside a function
    counts, and a relative one is resolved against its package."""
    source = "def f():\n    from service.errors import ApiError\n    import flask\n    from ..api import views\n"
    names = imports(source, "service.schedulers")
    assert matching(names, ("service.errors",)) == ["service.errors", "service.errors.ApiError"]
    assert matching(names, WEB_STACK) == ["flask"]
    assert matching(names, ("service.api",)) == ["service.api", "service.api.views"]


@pytest.mark.parametrize("path", [p for p in modules() if "api" not in p.relative_to(SERVICE).parts[:1]], ids=name)
def test_only_the_http_wing_imports_the_web_stack(path):
    assert offending(path, WEB_STACK) == []


@pytest.mark.parametrize("path", [p for p in modules() if p.relative_to(SERVICE).parts[0] not in ("api", "app.py", "asgi.py")],
                         ids=name)
def test_the_domain_never_imports_the_http_wing_or_the_app(path):
    assert offending(path, ("service.api", "service.app", "service.asgi")) == []


@pytest.mark.parametrize("path", modules("schedulers"), ids=name)
def test_schedulers_raise_no_http_errors_and_import_nothing_above_them(path):
    assert offending(path, ABOVE_SCHEDULERS) == []


@pytest.mark.parametrize("path", modules("trackers"), ids=name)
def test_trackers_store_records_and_know_nothing_above_them(path):
    assert offending(path, ("service.api", "service.app", "service.jobs", "service.datasets", "service.methods",
                            "service.schedulers", "service.reports")) == []
