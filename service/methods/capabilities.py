"""What the installed HyPhy offers: its version, its analyses and each analysis' keyword options.

HyPhy silently ignores a keyword an analysis does not declare, so an option the installed HyPhy
lacks must be refused here rather than passed on. The facts come from the HyPhy that runs the
jobs, collected by scripts/hyphy-capabilities.sh (`hyphy --version`, `hyphy --help` and
`hyphy NAME --help` as raw text, see the script):

- SlurmRestScheduler: the compute nodes publish them into `JOB_WORK_LOCATION/.hyphy/` (at node
  start, from a collection made when their image was built); `PublishedCapabilities` re-reads
  that directory when it is replaced (one stat per second at most, per request nothing more).
- LocalScheduler: the service runs the collector on its own binary at start
  (`LocalBinaryCapabilities`), and again if the binary changes (a package upgrade).
- Nothing published, or unreadable: `ASSUMED`, HyPhy 2.5.46's options (Debian bookworm, the
  oldest HyPhy this service supports), so nothing newer is offered, and GET /methods says so.

`MethodCatalog` turns the registry's methods into the ones this HyPhy can run (registry.Method.for_hyphy).
"""

from __future__ import annotations

import functools
import logging
import os
import re
import shutil
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterable, Mapping, Protocol

if TYPE_CHECKING:  # pragma: no cover
    from service.methods.registry import Method

log = logging.getLogger(__name__)

#: The collector, shipped with the service (the service image copies it to /app/scripts).
COLLECTOR = Path(__file__).resolve().parents[2] / "scripts" / "hyphy-capabilities.sh"
#: Where compute nodes publish their HyPhy's capabilities, under JOB_WORK_LOCATION.
PUBLISHED_DIR = ".hyphy"

SOURCE_PUBLISHED = "published by the compute nodes"
SOURCE_LOCAL = "local binary"
SOURCE_ASSUMED = "assumed 2.5.46"

_VERSION = re.compile(r"HYPHY\s+(\d+(?:\.\d+)+)")
#: An option line of `hyphy NAME --help`: `name`, `name [required]`, `name [conditionally required]`.
#: Options whose name is computed at run time are printed as expressions (`"regexp-"+(sm.i+1) …`)
#: and never match.
_OPTION_LINE = re.compile(r"^([a-z][A-Za-z0-9_-]*)( \[[^\]]*\])*\s*$")
_LISTED_ANALYSIS = re.compile(r"^\t([A-Za-z0-9._-]+)\s")


class CapabilitiesError(ValueError):
    """A collection that cannot be read (missing files, no version)."""


@dataclass(frozen=True)
class HyPhyCapabilities:
    """One HyPhy installation: `options[analysis]` is the set of keywords `analysis --help` lists."""

    version: str
    source: str
    options: Mapping[str, frozenset[str]]
    #: Every analysis name HyPhy lists (`hyphy --help`), including those whose help failed.
    listed: frozenset[str] = frozenset()
    #: Where the facts come from: collected (UTC), host, binary, directory; a note for the fallback.
    details: Mapping[str, str] = field(default_factory=dict)

    @property
    def assumed(self) -> bool:
        return self.source == SOURCE_ASSUMED

    def has_analysis(self, name: str) -> bool:
        return name in self.options

    def has_option(self, analysis: str, flag: str) -> bool:
        """Whether `analysis` declares the keyword `flag` (with or without its leading `--`)."""
        return flag.removeprefix("--") in self.options.get(analysis, ())

    def describe(self) -> str:
        """E.g. "HyPhy 2.5.68 (published by the compute nodes)"."""
        return f"HyPhy {self.version} ({self.source})"

    def describe_short(self) -> str:
        """The HyPhy in an error message: "HyPhy 2.5.68", or saying that 2.5.46 is assumed."""
        if self.assumed:
            return f"HyPhy {self.version} (assumed: the HyPhy that runs the jobs published no capabilities)"
        return f"HyPhy {self.version}"


def parse_help(text: str) -> frozenset[str]:
    """The keyword options `hyphy NAME --help` lists (header and description lines never match)."""
    return frozenset(m.group(1) for m in map(_OPTION_LINE.match, text.splitlines()) if m)


def parse_version(text: str) -> str:
    match = _VERSION.search(text)
    if not match:
        raise CapabilitiesError(f"no HyPhy version in {text[:200]!r}")
    return match.group(1)


def parse_listed(text: str) -> frozenset[str]:
    """The standard analysis names at the end of `hyphy --help`."""
    _, _, listing = text.partition("Available standard keyword analyses")
    return frozenset(m.group(1) for m in map(_LISTED_ANALYSIS.match, listing.splitlines()) if m)


def read_collection(directory: Path | str, source: str) -> HyPhyCapabilities:
    """Parse a directory written by scripts/hyphy-capabilities.sh.

    Files are opened relative to one open directory descriptor: the collector replaces the
    directory by renaming, so what is read is one collection even if it is replaced meanwhile.
    An analysis counts when its `--help` exited 0.
    """
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        def read(name: str) -> str:
            with open(name, encoding="utf-8", errors="replace", opener=lambda p, flags: os.open(p, flags, dir_fd=fd)) as f:
                return f.read()

        try:
            version = parse_version(read("version"))
            listed = parse_listed(read("analyses"))
            codes = dict(line.split()[:2] for line in read("exit-codes").splitlines() if len(line.split()) >= 2)
            info = dict(line.split("=", 1) for line in read("info").splitlines() if "=" in line)
        except FileNotFoundError as exc:
            raise CapabilitiesError(f"{directory}: incomplete collection ({exc.filename} missing)") from None
        options = {}
        for name, code in codes.items():
            if code == "0" and "/" not in name:
                try:
                    options[name] = parse_help(read(f"help/{name}"))
                except FileNotFoundError:
                    continue
    finally:
        os.close(fd)
    details = {k: info[k] for k in ("collected", "host", "binary") if info.get(k)}
    details["location"] = str(directory)
    return HyPhyCapabilities(version=version, source=source, options=options, listed=listed | set(options),
                             details=details)


#: HyPhy 2.5.46's (Debian bookworm) options for the analyses the registry knows: what is offered
#: when the HyPhy that runs jobs is unknown. tests/unit/test_hyphy_capabilities.py checks it
#: against the collector's real output (tests/fixtures/hyphy-capabilities/2.5.46-bookworm).
_OPTIONS_2_5_46 = {
    "fel": "code alignment tree branches srv pvalue ci resample output precision full-model",
    "meme": "code alignment tree branches pvalue resample output full-model",
    "slac": "code alignment tree branches samples pvalue output",
    "fubar": "code alignment tree cache output grid method chains chain-length burn-in samples "
             "concentration_parameter non-zero",
    "absrel": "code alignment tree branches multiple-hits srv syn-rates output",
    "busted": "code alignment tree branches srv rates multiple-hits syn-rates grid-size starting-points output save-fit",
    "relax": "code alignment tree mode test reference output grid-size starting-points multiple-hits "
             "reference-group rates models srv syn-rates save-fit",
    "gard": "type code alignment model rv max-breakpoints rate-classes output mode output-lf",
    "bgm": "type code alignment baseline_model output tree branches steps burn-in samples max-parents min-subs",
    "contrast-fel": "code alignment tree branch-set srv permutations p-value q-value output",
    "fmm": "code alignment tree rates triple-islands output save-fit",
    "fade": "alignment output cache tree branches grid model method chains chain-length burn-in samples "
            "concentration_parameter",
    "prime": "code alignment tree branches pvalue properties property-file impute-states output",
    "leisr": "alignment tree type model rate-variation output",
    "sm": "tree groups replicates weight use-bootstrap output",
}
ASSUMED = HyPhyCapabilities(
    version="2.5.46", source=SOURCE_ASSUMED,
    options={name: frozenset(flags.split()) for name, flags in _OPTIONS_2_5_46.items()},
    listed=frozenset(_OPTIONS_2_5_46),
    details={"note": "no HyPhy capabilities were published by the compute nodes (scripts/hyphy-capabilities.sh "
                     "never ran there): offering only what HyPhy 2.5.46, the oldest supported, can do"},
)


class CapabilitiesProvider(Protocol):
    def current(self) -> HyPhyCapabilities: ...


@dataclass(frozen=True)
class FixedCapabilities:
    """Always the same capabilities (tests; a HyPhy known in advance)."""

    capabilities: HyPhyCapabilities = ASSUMED

    def current(self) -> HyPhyCapabilities:
        return self.capabilities


class _Refreshed:
    """A capabilities source whose `current()` re-checks its origin (`_refresh`) at most once per
    `check_every_s`: GET /methods and every job start ask, and must stay cheap."""

    check_every_s: float
    clock: Callable[[], float]
    _lock: threading.Lock
    _checked: float
    _current: HyPhyCapabilities

    def current(self) -> HyPhyCapabilities:
        now = self.clock()
        if now - self._checked < self.check_every_s:
            return self._current
        with self._lock:
            if now - self._checked >= self.check_every_s:
                self._checked = now
                self._refresh()
            return self._current

    def _refresh(self) -> None:
        raise NotImplementedError


class PublishedCapabilities(_Refreshed):
    """The capabilities the compute nodes published in `directory`, re-read when it is replaced.

    At most one stat per `check_every_s`; a changed directory (new inode or mtime: the collector
    renames a new one into place) is parsed again. Missing from the start: ASSUMED (with a note
    naming the directory). Missing or unreadable after a good read: the last good one is kept
    (the collector's swap leaves the name absent for an instant; a deleted directory does not
    mean the nodes' HyPhy changed).
    """

    def __init__(self, directory: Path, *, check_every_s: float = 1.0, clock: Callable[[], float] = time.monotonic):
        self.directory = Path(directory)
        self.check_every_s = check_every_s
        self.clock = clock
        self._lock = threading.Lock()
        self._checked = float("-inf")
        self._key: tuple[int, int] | None = None
        self._current = self._assumed()

    def _assumed(self) -> HyPhyCapabilities:
        note = f"nothing published in {self.directory}: the compute nodes never ran scripts/hyphy-capabilities.sh " \
               "there; offering only what HyPhy 2.5.46, the oldest supported, can do"
        return HyPhyCapabilities(ASSUMED.version, ASSUMED.source, ASSUMED.options, ASSUMED.listed, {"note": note})

    def _refresh(self) -> None:
        try:
            stat = os.stat(self.directory)
        except OSError:
            return
        key = (stat.st_ino, stat.st_mtime_ns)
        if key == self._key:
            return
        try:
            loaded = read_collection(self.directory, SOURCE_PUBLISHED)
        except (OSError, CapabilitiesError, ValueError) as exc:
            log.warning("unreadable HyPhy capabilities", extra={"directory": str(self.directory), "error": str(exc)})
            return
        if (loaded.version, loaded.options) != (self._current.version, self._current.options) or self._key is None:
            log.info("HyPhy capabilities loaded", extra={"directory": str(self.directory), "version": loaded.version,
                                                         "analyses": len(loaded.options)})
        self._key = key
        self._current = loaded


class LocalBinaryCapabilities(_Refreshed):
    """What the local HyPhy binary offers, collected at construction and whenever the binary
    file changes (checked at most once per `check_every_s`)."""

    def __init__(self, binary: str, analyses: Iterable[str] = (), *, check_every_s: float = 5.0,
                 collector: Path = COLLECTOR, clock: Callable[[], float] = time.monotonic):
        self.binary = binary
        self.analyses = tuple(sorted(set(analyses)))
        self.check_every_s = check_every_s
        self.collector = collector
        self.clock = clock
        self._lock = threading.Lock()
        self._checked = clock()
        self._key = _file_key(binary)
        self._current = collect_local(binary, self.analyses, self._key, collector)

    def _refresh(self) -> None:
        key = _file_key(self.binary)
        if key != self._key:
            self._key = key
            self._current = collect_local(self.binary, self.analyses, key, self.collector)


def _file_key(path: str) -> tuple[int, int, int] | None:
    try:
        stat = os.stat(path)
    except OSError:
        return None
    return stat.st_ino, stat.st_size, stat.st_mtime_ns


@functools.lru_cache(maxsize=8)
def collect_local(binary: str, analyses: tuple[str, ...], key: tuple[int, int, int] | None,
                  collector: Path = COLLECTOR) -> HyPhyCapabilities:
    """Run the collector on `binary` (only `analyses`, or every one HyPhy lists) and parse it.

    Memoised per binary file identity (`key`), so apps built in one process (tests) collect once.
    Falls back to ASSUMED, with the reason in its note, when the binary or collector is missing
    or fails."""
    def fallback(reason: str) -> HyPhyCapabilities:
        log.warning("HyPhy capabilities not collected; assuming HyPhy 2.5.46", extra={"binary": binary, "error": reason})
        return HyPhyCapabilities(ASSUMED.version, ASSUMED.source, ASSUMED.options, ASSUMED.listed,
                                 {"note": f"could not collect the capabilities of {binary} ({reason}): offering only "
                                          "what HyPhy 2.5.46, the oldest supported, can do"})

    if key is None:
        return fallback("no such file")
    if not collector.exists():
        return fallback(f"{collector} is missing")
    scratch = Path(tempfile.mkdtemp(prefix="hyphy-capabilities-"))
    try:
        run = subprocess.run(["/bin/sh", str(collector), str(scratch / "out"), binary, *analyses],
                             stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120)
        if run.returncode != 0:
            return fallback(run.stderr.strip()[-500:] or f"exit {run.returncode}")
        capabilities = read_collection(scratch / "out", SOURCE_LOCAL)
    except (OSError, subprocess.SubprocessError, CapabilitiesError, ValueError) as exc:
        return fallback(str(exc))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    details = {k: v for k, v in capabilities.details.items() if k != "location"}
    log.info("HyPhy capabilities collected", extra={"binary": binary, "version": capabilities.version})
    return HyPhyCapabilities(capabilities.version, capabilities.source, capabilities.options, capabilities.listed,
                             details)


def provider_for(scheduler: object, work_root: Path, binary: str) -> CapabilitiesProvider:
    """A scheduler that runs HyPhy on this machine (`runs_hyphy_here`, the LocalScheduler): the
    collector runs on `binary` now (once per binary per process) and again when the binary file
    changes, for the analyses the registry knows. Any other: what its compute nodes published
    under JOB_WORK_LOCATION."""
    if scheduler.runs_hyphy_here:
        from service.methods.registry import DECLARED

        return LocalBinaryCapabilities(binary, analyses={m.hyphy_name for m in DECLARED.values() if m.hyphy_name})
    return PublishedCapabilities(Path(work_root) / PUBLISHED_DIR)


class MethodCatalog:
    """The registry's methods as the current HyPhy can run them: `get(id)` is cheap (the adapted
    methods are rebuilt only when the provider's capabilities change)."""

    def __init__(self, provider: CapabilitiesProvider):
        self.provider = provider
        self._lock = threading.Lock()
        self._built: tuple[HyPhyCapabilities, dict[str, "Method"]] | None = None

    @property
    def capabilities(self) -> HyPhyCapabilities:
        return self.provider.current()

    def methods(self) -> dict[str, "Method"]:
        capabilities = self.provider.current()
        built = self._built
        if built is None or built[0] is not capabilities:
            from service.methods.registry import METHODS

            with self._lock:
                built = self._built
                if built is None or built[0] is not capabilities:
                    built = (capabilities, {m.id: m.for_hyphy(capabilities) for m in METHODS.values()})
                    self._built = built
        return built[1]

    def get(self, method_id: str) -> "Method":
        return self.methods()[method_id]
