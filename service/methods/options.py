"""Option types: how one request field is validated, normalised and turned into HyPhy argv.

Both request dialects are accepted here, at the edge: v1.0.0 / the Go README send booleans
(`"ci": false`) and genetic codes as `{"value", "display_name"}` objects; v1.2.0 sends
`"Yes"`/`"No"` and plain strings. Every option normalises to one canonical value, so the two
dialects produce the same request key (and the same job).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any, Mapping

from service.errors import FieldError

#: Spec genetic-code names (both upstream specs, sic "Eupltoid") → HyPhy 2.5 `--code` names.
GENETIC_CODES: Mapping[str, str] = {
    "Universal": "Universal",
    "Vertebrate mtDNA": "Vertebrate-mtDNA",
    "Yeast mtDNA": "Yeast-mtDNA",
    "Mold/Protozoan mtDNA": "Mold-Protozoan-mtDNA",
    "Invertebrate mtDNA": "Invertebrate-mtDNA",
    "Ciliate Nuclear": "Ciliate-Nuclear",
    "Echinoderm mtDNA": "Echinoderm-mtDNA",
    "Eupltoid Nuclear": "Euplotid-Nuclear",
    "Alt. Yeast Nuclear": "Alt-Yeast-Nuclear",
    "Ascidian mtDNA": "Ascidian-mtDNA",
    "Flatworm mtDNA": "Flatworm-mtDNA",
    "Blepharisma Nuclear": "Blepharisma-Nuclear",
}

#: Branch-set keywords HyPhy accepts besides tree labels.
BRANCH_KEYWORDS = ("All", "Internal", "Leaves", "Unlabeled branches")
#: A tree label as HyPhy reads it between braces.
LABEL_PATTERN = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]{0,63}$")


@dataclass(frozen=True)
class Option:
    """One request field. `flag` is HyPhy's CLI option, or None when no HyPhy has one."""

    name: str
    flag: str | None
    default: Any
    description: str = ""
    required: bool = field(default=False, kw_only=True)

    #: Type name shown in `GET /methods` parameter lists.
    type_name = "string"

    def normalize(self, value: Any) -> Any:
        """Validate a client value (already known to be present) and return its canonical form."""
        raise NotImplementedError

    def hyphy_value(self, value: Any) -> str:
        return str(value)

    def argv(self, value: Any) -> list[str]:
        if self.flag is None or value is None:
            return []
        return [self.flag, self.hyphy_value(value)]

    def fail(self, message: str) -> FieldError:
        return FieldError(self.name, message)


@dataclass(frozen=True)
class YesNo(Option):
    """`"Yes"`/`"No"` (v1.2.0) or a boolean (v1.0.0)."""

    def normalize(self, value: Any) -> str:
        if isinstance(value, bool):
            return "Yes" if value else "No"
        if isinstance(value, str) and value.capitalize() in ("Yes", "No"):
            return value.capitalize()
        raise self.fail(f"must be 'Yes', 'No' or a boolean, got {value!r}")


@dataclass(frozen=True)
class Choice(Option):
    """One of a fixed set of client values, each mapped to HyPhy's spelling."""

    values: Mapping[str, str] = None  # type: ignore[assignment]

    def normalize(self, value: Any) -> str:
        if isinstance(value, str) and value in self.values:
            return value
        raise self.fail(f"must be one of {', '.join(map(repr, self.values))}; got {value!r}")

    def hyphy_value(self, value: Any) -> str:
        return self.values[value]


@dataclass(frozen=True)
class Integer(Option):
    minimum: int | None = None
    maximum: int | None = None
    type_name = "integer"

    def normalize(self, value: Any) -> int:
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.fail(f"must be an integer, got {value!r}")
        _check_range(self, value)
        return value


@dataclass(frozen=True)
class Number(Option):
    minimum: float | None = None
    maximum: float | None = None
    type_name = "number"

    def normalize(self, value: Any) -> float | int:
        # an int is never converted to float: JSON integers are unbounded, float() of a huge one raises
        if isinstance(value, bool) or not isinstance(value, (int, float)) or (
                isinstance(value, float) and not math.isfinite(value)):
            raise self.fail(f"must be a finite number, got {repr(value)[:40]}")
        _check_range(self, value)
        return value if isinstance(value, int) else int(value) if value.is_integer() else value


@dataclass(frozen=True)
class GeneticCode(Option):
    """A spec genetic-code name, as a string or as the Go README's `{"value", "display_name"}`."""

    def normalize(self, value: Any) -> str:
        if isinstance(value, dict):
            value = value.get("value")
        if isinstance(value, str) and value in GENETIC_CODES:
            return value
        raise self.fail(f"must be one of {', '.join(map(repr, GENETIC_CODES))}; got {value!r}")

    def hyphy_value(self, value: Any) -> str:
        return GENETIC_CODES[value]


@dataclass(frozen=True)
class BranchSelection(Option):
    """HyPhy's single `--branches` choice; spec sends an array (v1.0.0 SLAC/BGM: a string).

    `[]` and `"All"` mean all branches, one item selects that label or keyword; HyPhy cannot
    take several, so more than one is refused rather than silently truncated.
    """

    def normalize(self, value: Any) -> str:
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise self.fail("must be a list of branch labels (or a single label string)")
        if not value:
            return "All"
        if len(value) > 1:
            raise self.fail(
                "HyPhy tests one branch set: give a single label (e.g. [\"Foreground\"]) or a keyword "
                f"({', '.join(BRANCH_KEYWORDS)}); got {len(value)} items"
            )
        return _label(self, value[0])


@dataclass(frozen=True)
class LabelList(Option):
    """A list of tree labels; each becomes one `flag label` pair (contrast-fel `--branch-set`).

    `max_items` is set where HyPhy takes a single choice (RELAX `--test`/`--reference`).
    """

    min_items: int = 0
    max_items: int | None = None
    type_name = "array"

    def normalize(self, value: Any) -> list[str]:
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise self.fail("must be a list of branch labels")
        if len(value) < self.min_items:
            raise self.fail(f"needs at least {self.min_items} branch label(s)")
        if self.max_items is not None and len(value) > self.max_items:
            raise self.fail(f"HyPhy accepts at most {self.max_items} label(s) here; got {len(value)}")
        labels = [_label(self, v) for v in value]
        if len(set(labels)) != len(labels):
            raise self.fail("labels must not repeat")
        return labels

    def argv(self, value: Any) -> list[str]:
        if self.flag is None or not value:
            return []
        return [item for label in value for item in (self.flag, label)]


@dataclass(frozen=True)
class NotInHyPhy(Option):
    """A spec option the installed HyPhy has no CLI option for (it would be silently ignored).

    The spec default is accepted (and changes nothing); any other value is refused, naming the
    option, so a result never pretends to honour a setting it did not use. `accepts` is the
    option as declared (with HyPhy's keyword when some HyPhy release has one); `reason` names
    the installed HyPhy (registry.Method.for_hyphy).
    """

    accepts: Option = None  # type: ignore[assignment]
    reason: str = "the installed HyPhy has no command-line option for it"

    @property
    def type_name(self) -> str:  # type: ignore[override]
        return self.accepts.type_name

    def normalize(self, value: Any) -> Any:
        canonical = self.accepts.normalize(value)
        if canonical != self.accepts.normalize(self.default):
            raise self.fail(f"only the default {self.default!r} is supported: {self.reason}")
        return canonical

    def argv(self, value: Any) -> list[str]:
        return []


def _check_range(option: Any, value: float) -> None:
    if option.minimum is not None and value < option.minimum:
        raise option.fail(f"must be >= {option.minimum}, got {value}")
    if option.maximum is not None and value > option.maximum:
        raise option.fail(f"must be <= {option.maximum}, got {value}")


def _label(option: Option, value: str) -> str:
    if value in BRANCH_KEYWORDS or LABEL_PATTERN.match(value):
        return value
    raise option.fail(
        f"{value[:80]!r} is not a branch label: use letters, digits, '_', '.', '-' "
        f"(as in a tree's {{Label}}) or one of {', '.join(BRANCH_KEYWORDS)}"
    )
