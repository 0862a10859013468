"""What a dataset holds, read once per content: sequence names and lengths, the tree, stop codons.

A *profile* is computed with Biopython when a dataset is uploaded (FASTA through
`Bio.SeqIO.FastaIO`, PHYLIP through `Bio.AlignIO`, Newick through `Bio.Phylo`) and stored beside
the blob, keyed by the content hash, so neither a job start nor a result poll reads the
alignment again. Stop-codon positions depend on the genetic code; they are computed the first
time a codon method asks for a code and stored the same way (one file per content and code).

NEXUS is read by the small reader below rather than `Bio.Nexus`: Bio.Nexus 1.88 silently renames
a repeated taxon to `NAME.copy` and returns an empty matrix for a file cut short inside MATRIX,
and a validator must report both.

Names are kept as HyPhy reads them: a FASTA name is the whole header line (HyPhy does not stop at
the first space), a NEXUS name loses its quotes. `name_key` is HyPhy's name matching, observed on
HyPhy 2.5.46 (tests/integration/test_bio_validation_examples.py runs it): each run of characters
other than ASCII letters, digits and `_` counts as one `_`, and case is ignored.
"""

from __future__ import annotations

import itertools
import re
import threading
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from io import StringIO
from pathlib import Path
from typing import Any

from service.datasets import embedded_tree

#: Bump when what a profile holds (or how it is read) changes: older stored profiles are redone.
PROFILE_VERSION = 1

#: Stop codons of each genetic code, by HyPhy `--code` name: `GeneticCodeExclusions` in HyPhy
#: 2.5.46's TemplateBatchFiles/TemplateModels/chooseGeneticCode.def (a test compares the two).
STOP_CODONS: dict[str, frozenset[str]] = {
    name: frozenset(stops.split(","))
    for name, stops in {
        "Universal": "TAA,TAG,TGA",
        "Vertebrate-mtDNA": "AGA,AGG,TAA,TAG",
        "Yeast-mtDNA": "TAA,TAG",
        "Mold-Protozoan-mtDNA": "TAA,TAG",
        "Invertebrate-mtDNA": "TAA,TAG",
        "Ciliate-Nuclear": "TGA",
        "Echinoderm-mtDNA": "TAA,TAG",
        "Euplotid-Nuclear": "TAA,TAG",
        "Alt-Yeast-Nuclear": "TAA,TAG,TGA",
        "Ascidian-mtDNA": "TAA,TAG",
        "Flatworm-mtDNA": "TAG",
        "Blepharisma-Nuclear": "TAA,TGA",
        "Chlorophycean-mtDNA": "TAA,TGA",
        "Trematode-mtDNA": "TAA,TAG",
        "Scenedesmus-obliquus-mtDNA": "TAA,TCA,TGA",
        "Thraustochytrium-mtDNA": "TAA,TAG,TGA,TTA",
        "Pterobranchia-mtDNA": "TAA,TAG",
        "SR1-and-Gracilibacteria": "TAA,TAG",
        "Pachysolen-Nuclear": "TAA,TAG,TGA",
        "Mesodinium-Nuclear": "TGA",
        "Peritrich-Nuclear": "TGA",
        "Cephalodiscidae-mtDNA": "TAG",
    }.items()
}

#: IUPAC nucleotide codes. HyPhy counts an ambiguous codon as a stop when every reading of it is
#: one (TAR = TAA/TAG is refused under the Universal code; TAN, T-A and NNN are not) [ran].
IUPAC = {
    "A": "A", "C": "C", "G": "G", "T": "T",
    "R": "AG", "Y": "CT", "S": "CG", "W": "AT", "K": "GT", "M": "AC",
    "B": "CGT", "D": "AGT", "H": "ACT", "V": "ACG", "N": "ACGT",
}
#: Stop codons listed per sequence in a stop report (the count is always complete).
STOPS_LISTED = 5


class UnreadableData(ValueError):
    """The text is not in the format it claims; the message says where and why."""


# -- the profile ------------------------------------------------------------------------------
@dataclass(frozen=True)
class TreeProfile:
    """The tree HyPhy would use: its tip names, `{Label}` annotations, whether it is rooted."""

    tips: tuple[str, ...] = ()
    labels: tuple[str, ...] = ()
    rooted: bool = False
    #: Why the tree could not be read ("" when it could).
    problem: str = ""
    #: Where it comes from: "file" (a tree dataset) or "embedded" (inside an alignment).
    source: str = "file"


@dataclass(frozen=True)
class Profile:
    format: str
    #: Why the alignment could not be read ("" when it could, or when the dataset is only a tree).
    problem: str = ""
    names: tuple[str, ...] = ()
    lengths: tuple[int, ...] = ()
    tree: TreeProfile | None = None
    version: int = PROFILE_VERSION

    @property
    def sequences(self) -> int:
        return len(self.names)

    @property
    def sites(self) -> int:
        """Alignment columns: the longest sequence (characters, gaps included)."""
        return max(self.lengths, default=0)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Profile:
        tree = data.get("tree")
        return cls(
            format=data["format"], problem=data.get("problem", ""), names=tuple(data.get("names", ())),
            lengths=tuple(data.get("lengths", ())), version=data.get("version", 0),
            tree=TreeProfile(**{**tree, "tips": tuple(tree["tips"]), "labels": tuple(tree["labels"])}) if tree else None,
        )


@dataclass(frozen=True)
class StopReport:
    """Stop codons (under one genetic code) of each sequence that has any.

    `by_sequence[i] = (count, ((codon index 0-based, codon), ...first STOPS_LISTED))`.
    """

    code: str
    by_sequence: dict[int, tuple[int, tuple[tuple[int, str], ...]]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"version": PROFILE_VERSION, "code": self.code,
                "by_sequence": [[i, n, [list(s) for s in listed]] for i, (n, listed) in self.by_sequence.items()]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> StopReport:
        return cls(data["code"], {i: (n, tuple((int(p), str(c)) for p, c in listed))
                                  for i, n, listed in data["by_sequence"]})


def name_key(name: str) -> str:
    """How HyPhy matches a tree tip to a sequence name: runs of other characters are one `_`,
    case is ignored (`MEL-1`, `mel 1` and `MEL_1` all match; `a__b` does not match `a--b`)."""
    return re.sub(r"[^A-Za-z0-9_]+", "_", name).upper()


# -- computing it -----------------------------------------------------------------------------
def build_profile(path: Path, fmt: str) -> Profile:
    """Read the dataset at `path` once. Never raises for bad content: problems are recorded."""
    try:
        text = _read_text(path)
    except (OSError, UnicodeDecodeError) as exc:
        return Profile(format=fmt, problem=f"the file could not be read ({exc})")
    if fmt == "newick":
        return Profile(format=fmt, tree=tree_profile(text, "file"))
    if fmt not in ("fasta", "nexus", "phylip"):
        return Profile(format=fmt, problem="the format was not recognised")
    tree = None
    try:
        rows, tree_text = _ROW_READERS[fmt](text)
        if tree_text is not None:
            tree = tree_profile(tree_text, "embedded")
        names = tuple(name for name, _ in rows)
        lengths = tuple(len(seq) for _, seq in rows)
        problem = "" if rows else "it holds no sequences"
    except UnreadableData as exc:
        names, lengths, problem = (), (), str(exc)
        if fmt == "nexus":  # the TREES block may still be fine (a NEXUS tree file)
            tree = _nexus_tree_only(text)
    except Exception as exc:  # a reader tripping over malformed text must not fail the upload
        names, lengths, problem = (), (), f"malformed {fmt.upper()} ({type(exc).__name__}: {exc})"
    return Profile(format=fmt, problem=problem, names=names, lengths=lengths, tree=tree)


def stop_report(path: Path, fmt: str, code: str) -> StopReport:
    """Every stop codon under `code` in each sequence, in the reading frame that starts at site 1."""
    stops = _stop_strings(code)
    by_sequence: dict[int, tuple[int, tuple[tuple[int, str], ...]]] = {}
    for index, (_, seq) in enumerate(read_rows(path, fmt)):
        seq = seq.upper().replace("U", "T")
        end = len(seq) - len(seq) % 3
        found: list[int] = []
        for stop in stops:  # str.find runs in C; stop codons are rare in coding data
            position = seq.find(stop, 0, end)
            while position >= 0:
                if position % 3 == 0:
                    found.append(position)
                position = seq.find(stop, position + 1, end)
        if found:
            found.sort()
            by_sequence[index] = (len(found), tuple((p // 3, seq[p:p + 3]) for p in found[:STOPS_LISTED]))
    return StopReport(code, by_sequence)


def read_rows(path: Path, fmt: str) -> list[tuple[str, str]]:
    """(name, aligned sequence) of each sequence, as HyPhy names them; raises UnreadableData."""
    return _ROW_READERS[fmt](_read_text(path))[0]


def _stop_strings(code: str) -> tuple[str, ...]:
    """Every codon spelling (IUPAC ambiguity included) that is a stop under `code` however read."""
    return _STOP_STRINGS.setdefault(code, tuple(
        "".join(letters) for letters in itertools.product(IUPAC, repeat=3)
        if all("".join(reading) in STOP_CODONS[code] for reading in itertools.product(*(IUPAC[c] for c in letters)))
    ))


_STOP_STRINGS: dict[str, tuple[str, ...]] = {}


def _read_text(path: Path) -> str:
    # newline=None: "\r" (classic Mac, as in HyPhy's older examples) and "\r\n" become "\n"
    with open(path, encoding="utf-8", newline=None) as handle:
        return handle.read()


# -- FASTA (and HyPhy's "#name" variant) --------------------------------------------------------
def _fasta_rows(text: str) -> tuple[list[tuple[str, str]], str | None]:
    from Bio.SeqIO.FastaIO import SimpleFastaParser

    body, tree_text = embedded_tree.split(text, "fasta")
    feed = (">" + line[1:] if line.startswith("#") else line for line in body.splitlines(keepends=True))
    rows = [(title, re.sub(r"\s+", "", seq)) for title, seq in SimpleFastaParser(feed)]
    return rows, tree_text


# -- PHYLIP -----------------------------------------------------------------------------------
def _phylip_rows(text: str) -> tuple[list[tuple[str, str]], str | None]:
    from Bio import AlignIO

    text, tree_text = embedded_tree.split(text, "phylip")
    problems = []
    # relaxed: interleaved rows, names of any length; sequential: rows wrapped over several lines
    for variant, body in (("phylip-relaxed", text),
                          ("phylip-sequential", "".join(line for line in text.splitlines(keepends=True)
                                                        if line.strip()))):
        try:
            alignment = AlignIO.read(StringIO(body), variant)
        except Exception as exc:  # Biopython raises ValueError and friends on malformed PHYLIP
            problems.append(str(exc))
            continue
        return [(record.id, str(record.seq)) for record in alignment], tree_text
    raise UnreadableData(f"not valid PHYLIP: {problems[0]} (read as sequential PHYLIP: {problems[1]})")


# -- NEXUS ------------------------------------------------------------------------------------
_NEXUS_TOKEN = re.compile(r"'(?:[^']|'')*'|\[[^\]]*\]?|;|[^';\[]+")


def _nexus_commands(text: str) -> Iterator[tuple[str, bool]]:
    """(command text, terminated by ';') pairs; comments dropped, quotes kept."""
    buffer: list[str] = []
    for token in _NEXUS_TOKEN.findall(text):
        if token == ";":
            yield "".join(buffer), True
            buffer = []
        elif not token.startswith("["):
            buffer.append(token)
    if "".join(buffer).strip():
        yield "".join(buffer), False


def _nexus_blocks(text: str) -> Iterator[tuple[str, str, str, bool]]:
    """(block name, command keyword, command arguments, terminated) for each command in a block."""
    block = ""
    for command, terminated in _nexus_commands(text):
        match = _COMMAND.match(command)
        if match is None:
            continue
        keyword, rest = match.group(1).lower(), match.group(2)
        if keyword == "#nexus":  # "#NEXUS ... BEGIN DATA" arrives as one command
            match = _COMMAND.match(rest)
            if match is None:
                continue
            keyword, rest = match.group(1).lower(), match.group(2)
        if keyword == "begin":
            block = rest.strip().lower()
        elif keyword in ("end", "endblock"):
            block = ""
        else:
            yield block, keyword, rest, terminated


_COMMAND = re.compile(r"\s*(\S+)\s*(.*)", re.DOTALL)
_NAME_TOKEN = re.compile(r"'(?:[^']|'')*'|[^\s]+")
_ASSIGNMENT = re.compile(r"(\w+)\s*=\s*('(?:[^']|'')*'|\S+)|(\w+)")


def _unquote(token: str) -> str:
    if len(token) >= 2 and token[0] == token[-1] == "'":
        return token[1:-1].replace("''", "'")
    return token


def _settings(arguments: str) -> dict[str, str]:
    return {(m.group(1) or m.group(3)).lower(): _unquote(m.group(2) or "") for m in _ASSIGNMENT.finditer(arguments)}


def _nexus_rows(text: str) -> tuple[list[tuple[str, str]], str | None]:
    taxlabels: list[str] = []
    dimensions: dict[str, str] = {}
    fmt: dict[str, str] = {}
    rows: list[tuple[str, str]] | None = None
    trees: list[tuple[str, str, bool]] = []
    for block, keyword, arguments, terminated in _nexus_blocks(text):
        if block == "taxa" and keyword == "taxlabels":
            taxlabels = [_unquote(t) for t in _NAME_TOKEN.findall(arguments)]
        elif block in ("taxa", "data", "characters") and keyword == "dimensions":
            dimensions.update(_settings(arguments))
        elif block in ("data", "characters") and keyword == "format":
            fmt = _settings(arguments)
        elif block in ("data", "characters") and keyword == "matrix":
            if not terminated:
                raise UnreadableData("the file ends inside the MATRIX command (no closing ';'): was it cut short?")
            rows = _nexus_matrix(arguments, taxlabels, dimensions, fmt)
        elif block == "trees":
            trees.append((keyword, arguments, terminated))
    if rows is None:
        raise UnreadableData("it holds no sequences" if trees else "no MATRIX in a DATA or CHARACTERS block")
    ntax = dimensions.get("ntax")
    if ntax and ntax.isdigit() and int(ntax) != len(rows):
        raise UnreadableData(f"DIMENSIONS says NTAX={ntax} but the MATRIX holds {len(rows)} sequences "
                             "(was the file cut short?)")
    return rows, _first_nexus_tree(trees)


def _nexus_matrix(body: str, taxlabels: list[str], dimensions: dict[str, str],
                  fmt: dict[str, str]) -> list[tuple[str, str]]:
    if "transpose" in fmt:
        raise UnreadableData("TRANSPOSEd NEXUS matrices are not supported; write one row per sequence")
    nchar = int(dimensions["nchar"]) if dimensions.get("nchar", "").isdigit() else 0
    interleave = next((key for key in ("interleave", "interleaved") if key in fmt), None)
    interleaved = interleave is not None and fmt[interleave].lower() not in ("no", "false")
    known = set(taxlabels)
    names: list[str] = []
    chunks: list[list[str]] = []
    lengths: list[int] = []
    first_block_done = False
    line_in_block = 0
    for line in body.split("\n"):
        tokens = _NAME_TOKEN.findall(_POLYMORPHISM.sub("?", line))
        if not tokens:
            continue
        name, characters = _unquote(tokens[0]), "".join(tokens[1:])
        if interleaved:
            if names and not first_block_done and name == names[0]:
                first_block_done = True
            if first_block_done:
                row = line_in_block % len(names)
                if name != names[row]:
                    raise UnreadableData(f"interleaved MATRIX: expected a line for '{names[row]}' but found '{name}'")
                line_in_block += 1
                chunks[row].append(characters)
                lengths[row] += len(characters)
                continue
            starts_row = True
        else:
            starts_row = (not names or name in known or (nchar and lengths[-1] >= nchar)
                          or (not nchar and not known))
        if starts_row:
            names.append(name)
            chunks.append([characters])
            lengths.append(len(characters))
        else:  # a sequential row wrapped over several lines
            chunks[-1].append("".join(tokens))
            lengths[-1] += len("".join(tokens))
    rows = [(name, "".join(parts)) for name, parts in zip(names, chunks)]
    match = fmt.get("matchchar")
    if match and rows:
        reference = rows[0][1]
        rows = [rows[0]] + [(name, "".join(reference[i] if c == match and i < len(reference) else c
                                           for i, c in enumerate(seq))) for name, seq in rows[1:]]
    return rows


_POLYMORPHISM = re.compile(r"[{(][^})]*[})]")  # {AG} / (AG): one (ambiguous) character


def _first_nexus_tree(commands: list[tuple[str, str, bool]]) -> str | None:
    """The first TREE of a TREES block as Newick, with a TRANSLATE table applied."""
    translate: dict[str, str] = {}
    for keyword, arguments, _terminated in commands:
        if keyword == "translate":
            for pair in arguments.split(","):
                parts = _NAME_TOKEN.findall(pair)
                if len(parts) >= 2:
                    translate[_unquote(parts[0])] = parts[1]
        elif keyword in ("tree", "utree"):
            newick = arguments.partition("=")[2].strip()
            if translate:
                newick = re.sub(r"(?<=[(,])\s*([^\s(),:;{}\[\]']+)",
                                lambda m: translate.get(m.group(1), m.group(1)), newick)
            return newick + ";"
    return None


def _nexus_tree_only(text: str) -> TreeProfile | None:
    trees = [(k, a, t) for block, k, a, t in _nexus_blocks(text) if block == "trees"]
    newick = _first_nexus_tree(trees)
    return tree_profile(newick, "file") if newick else None


_ROW_READERS = {"fasta": _fasta_rows, "phylip": _phylip_rows, "nexus": _nexus_rows}


# -- trees ------------------------------------------------------------------------------------
_LABEL = re.compile(r"\{([^{}]*)\}")


def tree_profile(text: str, source: str) -> TreeProfile:
    """Tips, labels and rootedness of the first tree in `text` (Newick, or NEXUS with TREES)."""
    from Bio import Phylo

    labels = tuple(dict.fromkeys(m.strip() for m in _LABEL.findall(text) if m.strip()))
    if text.lstrip().upper().startswith("#NEXUS"):
        found = _nexus_tree_only(text)
        return TreeProfile(found.tips, labels, found.rooted, found.problem, source) if found else \
            TreeProfile(labels=labels, problem="the NEXUS file has no TREES block with a TREE", source=source)
    newick = _LABEL.sub("", text).strip()
    newick = newick[: newick.find(";") + 1] if ";" in newick else newick + ";"
    if not newick.startswith(("(", "[")):
        return TreeProfile(labels=labels, problem="a Newick tree starts with '('", source=source)
    try:
        tree = Phylo.read(StringIO(newick), "newick")
    except Exception as exc:  # Bio.Phylo raises NewickError and friends
        return TreeProfile(labels=labels, problem=f"not valid Newick: {exc}", source=source)
    return TreeProfile(_tips(tree.root), labels, len(tree.root.clades) == 2, "", source)


def _tips(root) -> tuple[str, ...]:
    """Leaf names left to right, without recursion (Bio.Phylo's traversal recurses once per level,
    and a ladder-like tree of a few thousand sequences is deeper than Python's recursion limit)."""
    tips, stack = [], [root]
    while stack:
        clade = stack.pop()
        if clade.clades:
            stack.extend(reversed(clade.clades))
        else:
            tips.append(clade.name or "")
    return tuple(tips)


# -- caching ----------------------------------------------------------------------------------
class ProfileStore:
    """Profiles and stop reports per content hash: in memory (a small LRU) and beside the blob.

    `sidecar(sha, name)` (the dataset tracker) says where a stored file lives; a stored file of an
    older PROFILE_VERSION is recomputed. Computing is idempotent, so concurrent writers are fine.
    """

    MEMORY_ENTRIES = 64

    def __init__(self, tracker):
        self.tracker = tracker
        self._memory: OrderedDict[tuple[str, str], Any] = OrderedDict()
        self._lock = threading.Lock()

    def profile(self, content_sha256: str, fmt: str, path: Path | None = None, *, persist: bool = True) -> Profile:
        """The profile of this content, read from `path` (default: the stored blob) if not known yet.

        `persist=False` (an upload not yet accepted) keeps a newly computed profile out of the store;
        `save` stores it once the upload is."""
        def compute() -> Profile:
            return build_profile(path or self.tracker.blob_path(content_sha256), fmt)
        return self._get((content_sha256, "profile"), compute, Profile.from_dict, persist)

    def save(self, content_sha256: str, profile: Profile) -> None:
        if self.tracker.read_sidecar(content_sha256, "profile") is None:
            self.tracker.write_sidecar(content_sha256, "profile", profile.to_dict())

    def stops(self, content_sha256: str, fmt: str, code: str) -> StopReport:
        """Stop codons under genetic code `code` (a HyPhy --code name), computed on first use."""
        def compute() -> StopReport:
            return stop_report(self.tracker.blob_path(content_sha256), fmt, code)
        return self._get((content_sha256, f"stops-{code}"), compute, StopReport.from_dict, True)

    def _get(self, key: tuple[str, str], compute, load, persist: bool):
        with self._lock:
            if key in self._memory:
                self._memory.move_to_end(key)
                return self._memory[key]
        value = None
        stored = self.tracker.read_sidecar(*key)
        if stored is not None and stored.get("version") == PROFILE_VERSION:
            try:
                value = load(stored)
            except (KeyError, TypeError, ValueError):
                value = None
        if value is None:
            value = compute()
            if persist:
                self.tracker.write_sidecar(*key, value.to_dict())
        self.remember(key, value)
        return value

    def remember(self, key: tuple[str, str], value: Any) -> None:
        with self._lock:
            self._memory[key] = value
            self._memory.move_to_end(key)
            while len(self._memory) > self.MEMORY_ENTRIES:
                self._memory.popitem(last=False)

    def forget(self, content_sha256: str) -> None:
        with self._lock:
            for key in [k for k in self._memory if k[0] == content_sha256]:
                del self._memory[key]
