"""Every CLI flag the method registry passes exists in the installed HyPhy.

HyPhy silently ignores a keyword it does not know (the run "succeeds" with the default), so a
misspelt flag in service/methods/registry.py would never show up as an error. `hyphy <method>
--help` lists the keyword options a method declares, one per line (`name` or `name [required]`).

The registry declares HyPhy's keywords whichever release added them; the installed HyPhy's
capabilities (collected here by scripts/hyphy-capabilities.sh, as LocalScheduler does at start)
decide which are passed. So: what the service would pass is listed by the installed HyPhy, and
what it refuses is really absent from it.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from service import hyphy
from service.methods.capabilities import COLLECTOR, SOURCE_LOCAL, read_collection
from service.methods.options import NotInHyPhy
from service.methods.registry import DECLARED, HIDDEN_KEYWORDS
from tests.integration.helpers import INTEGRATION

pytestmark = INTEGRATION

OPTION_LINE = re.compile(r"^([a-z][A-Za-z0-9_-]*)( \[.*\])?$")
#: Declared in modules/shared-load-file.bf (every codon method loads it) but not listed by --help.
HIDDEN = {flag.removeprefix("--") for flag in HIDDEN_KEYWORDS}
SHARED_LOAD_FILE = Path("/usr/share/hyphy/TemplateBatchFiles/SelectionAnalyses/modules/shared-load-file.bf")


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """The installed HyPhy's capabilities, collected by the real collector."""
    out = tmp_path_factory.mktemp("capabilities") / "out"
    subprocess.run(["sh", str(COLLECTOR), str(out), hyphy.pick_binary()], check=True, timeout=300)
    return read_collection(out, SOURCE_LOCAL)


def registry_flags(method) -> set[str]:
    """Flags (without --) a job of this method can put on HyPhy's command line."""
    flags = {"alignment", "output"} | ({"tree"} if method.tree != "none" else set())
    flags |= {o.flag for o in method.options if o.flag}
    flags |= set(method.job_files)
    return {f.removeprefix("--") for f in flags}


def listed_options(method_name: str, cwd: Path) -> set[str]:
    run = subprocess.run([hyphy.pick_binary(), method_name, "--help"], cwd=cwd, stdin=subprocess.DEVNULL,
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, f"{method_name} --help exited {run.returncode}:\n{run.stdout[-2000:]}\n{run.stderr}"
    return {m.group(1) for m in map(OPTION_LINE.match, run.stdout.splitlines()) if m}


def test_every_hyphy_method_is_available_here(installed):
    available = [m.for_hyphy(installed) for m in DECLARED.values()]
    assert {m.hyphy_name for m in available if m.available} == {
        "fel", "meme", "slac", "fubar", "absrel", "busted", "relax", "gard", "bgm", "contrast-fel", "fmm",
        "fade", "prime", "leisr"}


@pytest.mark.parametrize("declared", [m for m in DECLARED.values() if m.hyphy_name], ids=lambda m: m.id)
def test_registry_flags_are_hyphy_options(declared, installed, tmp_path):
    method = declared.for_hyphy(installed)
    listed = listed_options(method.hyphy_name, tmp_path)
    assert {"alignment", "output"} <= listed, f"unexpected --help format for {method.hyphy_name}: {sorted(listed)}"
    assert listed == installed.options[method.hyphy_name], "the collector's parse differs from --help"
    unknown = registry_flags(method) - listed - HIDDEN
    assert not unknown, (f"{method.id}: the registry passes {sorted(unknown)}, which `{method.hyphy_name} --help` "
                         f"does not list (HyPhy would ignore them); it lists {sorted(listed)}")
    refused = {o.accepts.flag.removeprefix("--") for o in method.options if isinstance(o, NotInHyPhy) and o.accepts.flag}
    assert not refused & listed, f"{method.id}: refuses {sorted(refused & listed)}, which this HyPhy has"


def test_hidden_option_is_really_declared_by_hyphy(installed):
    """The one exemption above is a real (hidden) HyPhy keyword, not a typo we excuse."""
    used = {f for m in DECLARED.values() if m.hyphy_name for f in registry_flags(m.for_hyphy(installed))} & HIDDEN
    assert used, "no method uses a hidden option any more: drop the exemption"
    source = SHARED_LOAD_FILE.read_text()
    for flag in used:
        assert f'KeywordArgument ("{flag}"' in source
