"""What a method needs from its data, judged on datasets and their profiles, in words a biologist reads.

Each check returns FieldErrors (field `alignment` or `tree`); every message names the dataset
id and says what to change. `kind_error` needs only the dataset records (format and alphabet,
known since upload), so it runs on every start and result poll; the others read profiles. The
rules are HyPhy 2.5.46's, observed by running it (../shared/reference/hyphy-2.5-cli.md §6-7 and
tests/integration/test_bio_validation_examples.py):

- codon methods refuse any stop codon, a terminal one included, and read an ambiguous codon as
  a stop when every reading of it is one (TAR); a codon with a gap or an N is not a stop;
- a FASTA sequence name is the whole header line; a tree tip matches a sequence when both are
  equal after HyPhy's name normalisation (`profile.name_key`: case ignored, each run of other
  characters than letters, digits and `_` read as one `_`);
- only exactly repeated sequence names are refused (HyPhy accepts `MEL` beside `mel`);
- HyPhy pads sequences of unequal length without a word, so that is refused here.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

from service.datasets.profile import Profile, StopReport, TreeProfile, name_key
from service.errors import FieldError
from service.trackers.datasets import DatasetRecord

#: Fewer sequences give no tree to test.
MIN_SEQUENCES = 3
#: Names listed in one message before "and N more".
LISTED = 10


def quoted(values, limit: int = LISTED) -> str:
    """'a', 'b' and 3 more"""
    values = list(values)
    shown = ", ".join(repr(v) for v in values[:limit])
    return shown + (f" and {len(values) - limit} more" if len(values) > limit else "")


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" + ("" if count == 1 else "s")


#: The kind of data a method needs (registry `Method.data_kind`) → the alignment alphabet it cannot use.
WRONG_ALPHABET = {"codon": "protein", "protein": "nucleotide", "nucleotide": "protein"}
_WANTED = {"codon": "an in-frame codon (nucleotide)", "protein": "a protein", "nucleotide": "a nucleotide"}


def kind_error(alignment: DatasetRecord, tree: DatasetRecord | None, kind: str, needs: str) -> FieldError | None:
    """The first reason these datasets cannot be the alignment and tree of a job needing `kind`
    data ("codon", "protein", "nucleotide" or "any"), before HyPhy fails on them with a
    misleading message; None when there is none. `needs` names who needs it ("FEL", "GARD with
    this data type")."""
    if alignment.format == "newick":
        return FieldError("alignment", f"dataset {alignment.id} is a Newick tree, not an alignment")
    if alignment.format == "unknown":
        return FieldError("alignment", f"dataset {alignment.id} is not an alignment in a format HyPhy reads: "
                                       "upload FASTA ('>name' lines), NEXUS ('#NEXUS') or PHYLIP")
    if alignment.alphabet and alignment.alphabet == WRONG_ALPHABET.get(kind):
        return FieldError("alignment", f"{needs} needs {_WANTED[kind]} alignment; dataset {alignment.id} holds "
                                       f"{alignment.alphabet} sequences")
    if tree is not None and tree.format not in ("newick", "nexus"):
        return FieldError("tree", f"dataset {tree.id} is not a tree (Newick or NEXUS); it looks like {tree.format}")
    return None


def alignment_errors(ds_id: str, profile: Profile) -> list[FieldError]:
    """Any method: readable, at least 3 sequences, unique names, one aligned length."""
    if profile.problem:
        return [FieldError("alignment", f"dataset {ds_id} could not be read as {profile.format.upper()}: "
                                        f"{profile.problem}")]
    errors = []
    if profile.sequences < MIN_SEQUENCES:
        errors.append(FieldError("alignment", f"dataset {ds_id} holds {_plural(profile.sequences, 'sequence')}; "
                                              f"HyPhy needs at least {MIN_SEQUENCES} to build a tree and test for selection"))
    repeated = {name: n for name, n in Counter(profile.names).items() if n > 1}
    if repeated:
        listed = ", ".join(f"{name!r} ({n} times)" for name, n in list(repeated.items())[:LISTED])
        more = f" and {len(repeated) - LISTED} more" if len(repeated) > LISTED else ""
        errors.append(FieldError("alignment", f"dataset {ds_id} gives the same name to more than one sequence: "
                                              f"{listed}{more}; every sequence needs its own name"))
    lengths = Counter(profile.lengths)
    if len(lengths) > 1:
        usual, count = lengths.most_common(1)[0]
        odd = [(name, length) for name, length in zip(profile.names, profile.lengths) if length != usual]
        listed = ", ".join(f"{name!r} ({length})" for name, length in odd[:LISTED])
        more = f" and {len(odd) - LISTED} more" if len(odd) > LISTED else ""
        hint = ""
        if profile.lengths[-1] < usual and profile.names[-1] in dict(odd):
            hint = "; the last sequence is the short one: was the file cut short?"
        errors.append(FieldError("alignment", f"dataset {ds_id} is not aligned: sequences must all have the same "
                                              f"length (pad with '-'), but {count} of {profile.sequences} have "
                                              f"{usual} characters and these differ: {listed}{more}{hint}"))
    return errors


def codon_errors(ds_id: str, profile: Profile, stops: Callable[[], StopReport], code: str) -> list[FieldError]:
    """Codon methods: whole codons (length a multiple of 3) and no stop codon under `code`.

    `stops` computes (or fetches) the stop report only when the alignment is otherwise readable.
    `code` is the genetic code's name as the client chose it (for the message).
    """
    if profile.problem or not profile.names:
        return []
    errors = []
    lengths = set(profile.lengths)
    if len(lengths) == 1 and profile.sites % 3:
        sites = profile.sites
        errors.append(FieldError("alignment", f"dataset {ds_id} is {sites} nucleotides long, which is not a multiple "
                                              f"of 3 ({sites // 3} codons and {_plural(sites % 3, 'nucleotide')} "
                                              "left over): a codon method needs an in-frame coding alignment"))
    report = stops()
    if report.by_sequence:
        errors.append(FieldError("alignment", _stops_message(ds_id, profile, report, code)))
    return errors


def _stops_message(ds_id: str, profile: Profile, report: StopReport, code: str) -> str:
    rule = "HyPhy's codon methods accept no stop codon, not even a final one"
    choose = "or choose the genetic code these sequences use (genetic_code)"
    affected = f"{len(report.by_sequence)} of {_plural(profile.sequences, 'sequence')}"
    final = {(count, listed[0][0]) for count, listed in report.by_sequence.values()}
    if len(report.by_sequence) == profile.sequences and len(set(profile.lengths)) == 1 \
            and final == {(1, profile.sites // 3 - 1)}:  # each sequence's only stop is its last codon
        codon = profile.sites // 3
        names = [f"{profile.names[i]!r} ({listed[0][1]})" for i, (_, listed) in report.by_sequence.items()]
        return (f"dataset {ds_id}: {affected} end with a stop codon (genetic code {code}) at codon {codon}, "
                f"nucleotides {3 * codon - 2}-{3 * codon}: {quoted_plain(names)}. {rule}: remove the alignment's "
                f"last 3 columns, {choose}")
    found = []
    for index, (count, listed) in report.by_sequence.items():
        codon, spelling = listed[0]
        where = f"{profile.names[index]!r} codon {codon + 1} ({spelling}, nucleotides {3 * codon + 1}-{3 * codon + 3}"
        where += ", the last codon)" if codon == profile.lengths[index] // 3 - 1 else ")"
        found.append(where + (f" and {count - 1} more" if count > 1 else ""))
    return (f"dataset {ds_id} has stop codons (genetic code {code}) in {affected}: {quoted_plain(found, '; ')}. "
            f"{rule}: remove them or replace them with gaps ('---'), {choose}")


def quoted_plain(items, separator: str = ", ", limit: int = LISTED) -> str:
    """Already formatted items, the first `limit` of them and "and N more"."""
    items = list(items)
    return separator.join(items[:limit]) + (f"{separator}and {len(items) - limit} more" if len(items) > limit else "")


def tree_errors(tree: TreeProfile | None, where: str, alignment_id: str, alignment: Profile) -> list[FieldError]:
    """The tree's tips must be the alignment's sequences (as HyPhy matches names).

    `where` names the tree for messages: "dataset <id>" or "the tree embedded in dataset <id>".
    """
    if tree is None:
        return [FieldError("tree", f"{where} holds no tree")]
    if tree.problem:
        return [FieldError("tree", f"{where} could not be read as a tree: {tree.problem}")]
    if alignment.problem or not alignment.names:
        return []
    errors = []
    repeated = [tip for tip, n in Counter(tree.tips).items() if n > 1]
    if repeated:
        errors.append(FieldError("tree", f"{where} has more than one tip named {quoted(repeated)}"))
    sequences = {name_key(name) for name in alignment.names}
    tips = {name_key(tip) for tip in tree.tips}
    foreign = [tip for tip in dict.fromkeys(tree.tips) if name_key(tip) not in sequences]
    missing = [name for name in dict.fromkeys(alignment.names) if name_key(name) not in tips]
    if foreign or missing:
        parts = []
        if foreign:
            parts.append(f"tips not in the alignment: {quoted(foreign)}")
        if missing:
            parts.append(f"sequences not in the tree: {quoted(missing)}")
        hint = ("HyPhy matches names ignoring case, reading spaces and punctuation as '_'")
        first_words = {name_key(name.split()[0]) for name in missing if len(name.split()) > 1}
        if first_words & {name_key(tip) for tip in foreign}:
            hint += "; a FASTA sequence name is the whole header line, not only its first word"
        elif foreign and all(tip.isdigit() for tip in foreign):
            hint += "; tips must be sequence names, not numbers"
        errors.append(FieldError("tree", f"{where} and dataset {alignment_id} must name the same sequences, "
                                         f"but {'; '.join(parts)} ({hint})"))
    return errors
