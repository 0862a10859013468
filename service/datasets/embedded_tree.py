"""The one rule for a tree written inside an alignment file: whether the text carries one, and
the text without it.

HyPhy 2.5 takes the tree from the alignment file when there is one there, and then silently
ignores `--tree` (../shared/reference/hyphy-2.5-cli.md §6). What its reader
(src/core/dataset.cpp, ReadDataSetFile) takes for a tree:

- NEXUS: a TREES block;
- FASTA (HyPhy's "#name" FASTA too) and PHYLIP: a Newick tree after the sequences. A line that
  starts with '(' starts it (no sequence line does), and HyPhy reads on over as many lines as
  its parentheses need (ProcessTree), so a tree may span lines: everything from that line on is
  the tree. HyPhy's PHYLIP examples write the number of trees on a line before it, which goes
  with the tree.

The dataset profile reads the embedded tree through `split` (service/datasets/profile.py), and a
job's copy of the alignment loses it through `drop_embedded_tree` when the client also gave a
tree dataset, so that the client's tree is the one HyPhy uses.
"""

from __future__ import annotations

import re
from pathlib import Path

#: A whole TREES block, up to the END; that closes it.
_NEXUS_TREES = re.compile(r"begin\s+trees\s*;.*?end\s*;", re.IGNORECASE | re.DOTALL)


def split(text: str, fmt: str) -> tuple[str, str | None]:
    """(`text` without its embedded tree, the tree's text) — (`text`, None) when it has none.

    For NEXUS the tree's text is the TREES block(s); for FASTA and PHYLIP it is everything from
    the first line that starts with '('."""
    if fmt == "nexus":
        blocks = _NEXUS_TREES.findall(text)
        return (_NEXUS_TREES.sub("", text), "".join(blocks)) if blocks else (text, None)
    if fmt not in ("fasta", "phylip"):
        return text, None
    lines = text.splitlines(keepends=True)
    start = next((index for index, line in enumerate(lines) if line.startswith("(")), None)
    if start is None:
        return text, None
    before = lines[:start]
    if fmt == "phylip":  # the number of trees, and blank lines, before the tree
        while before and not before[-1].strip():
            before.pop()
        if len(before) > 1 and before[-1].strip().isdigit():
            before.pop()
    return "".join(before), "".join(lines[start:])


def has_embedded_tree(text: str, fmt: str) -> bool:
    """True when HyPhy would take the tree from this alignment text itself (and ignore --tree)."""
    return split(text, fmt)[1] is not None


def drop_embedded_tree(alignment: Path, fmt: str) -> bool:
    """Rewrite the alignment file at `alignment` without its embedded tree; False if it had none."""
    with open(alignment, encoding="utf-8", newline="") as handle:  # line endings kept as they are
        text = handle.read()
    without, tree = split(text, fmt)
    if tree is None:
        return False
    with open(alignment, "w", encoding="utf-8", newline="") as handle:
        handle.write(without)
    return True
