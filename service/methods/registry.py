"""The one registry of HyPhy methods: request options → HyPhy command line, data needs, resources.

Adding a method is one `Method(...)` entry in `DECLARED` plus its request schema and three
paths in openapi.yaml (a contract test checks the two agree). Each option names HyPhy's real
keyword (`--multiple-hits`), whichever HyPhy release added it; option facts (defaults, ranges) are
those of Debian's HyPhy 2.5.46 and 2.5.68 (bookworm, trixie), see ../shared/reference/hyphy-2.5-cli.md
and tests/fixtures/hyphy-capabilities.

Whether an option or a method is offered depends on the HyPhy that runs the jobs
(service.methods.capabilities): `Method.for_hyphy(capabilities)` keeps an option whose keyword
that HyPhy's `<analysis> --help` lists and turns any other into a NotInHyPhy (its default accepted,
any other value refused, naming the version), and makes the method unavailable when HyPhy lacks
the analysis. `METHODS` is the registry for HyPhy 2.5.46 (capabilities.ASSUMED), the conservative
view used where the installed HyPhy is not known; the service itself uses a
capabilities.MethodCatalog. An integration test checks every flag against the installed HyPhy.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Mapping

from service.errors import FieldError, InvalidRequest
from service.jobdir import JobDirectory
from service.methods.options import (
    BranchSelection,
    Choice,
    GeneticCode,
    Integer,
    LabelList,
    NotInHyPhy,
    Number,
    Option,
    YesNo,
)

if TYPE_CHECKING:  # pragma: no cover
    from service.methods.capabilities import HyPhyCapabilities

#: Request fields that name datasets rather than HyPhy options.
DATASET_FIELDS = ("alignment", "tree")
#: v1.0.0 SLAC / MULTI-HIT name the alignment `alignment_file`.
FIELD_ALIASES = {"alignment_file": "alignment"}
#: Identity travels in the header; v1.2.0 also puts it in the body.
IGNORED_FIELDS = ("user_token",)
#: Fields that only set how results are reported (which p-value counts as significant), never
#: what HyPhy computes: a method without such a threshold ignores them whatever their value.
REPORTING_FIELDS = ("pvalue", "p_value", "q_value")

#: Keywords HyPhy's analyses take without listing them in --help: every codon method loads
#: modules/shared-load-file.bf, which declares them (tests/integration checks the source).
HIDDEN_KEYWORDS = frozenset({"--kill-zero-lengths"})

#: The data each HyPhy `--type` value makes an analysis read (GARD/BGM `data_type`, LEISR `type`).
DATA_KIND_OF_TYPE = {"codon": "codon", "nucleotide": "nucleotide", "Nucleotide": "nucleotide",
                     "amino-acid": "protein", "Protein": "protein"}

MULTIPLE_HITS = {"None": "None", "Double": "Double", "Double+Triple": "Double+Triple"}
PROTEIN_MODELS = ("LG", "WAG", "JTT", "JC69", "mtMet", "mtVer", "mtInv", "gcpREV", "HIVBm", "HIVWm")


@dataclass(frozen=True)
class Resources:
    """Default per-job resources (Slurm request; LocalScheduler uses `cpus` for HyPhy's CPU=)."""

    cpus: int = 1
    memory_mb: int = 1024
    time_limit_min: int = 60


@dataclass(frozen=True)
class Method:
    """One analysis. `hyphy_name` is None when the installed HyPhy cannot run it (or this service
    cannot run HyPhy's analysis: `unavailable` says why, given the installed HyPhy)."""

    id: str
    name: str
    description: str
    hyphy_name: str | None
    options: tuple[Option, ...] = ()
    #: "codon", "protein", "nucleotide" or "any": what the alignment must hold.
    data: str = "codon"
    #: For a method taking "any" data: the option whose value says which (`data_kind`).
    data_option: str | None = None
    #: "required" (a tree dataset, or one embedded in the alignment file) or "none" (GARD).
    tree: str = "required"
    #: The tree must carry {labels}; `label_option` names the option that selects them.
    label_option: str | None = None
    #: Extra per-job output flags HyPhy would otherwise write next to the input: flag → file name
    #: in the job's folder (service/jobdir.py).
    job_files: Mapping[str, str] = field(default_factory=dict)
    resources: Resources = Resources()
    status: str = "available"
    unavailable_reason: str = ""
    #: Cross-field rules: (canonical options, raw body) → errors; may fill option-dependent defaults.
    check: Callable[[dict[str, Any], Mapping[str, Any]], list[FieldError]] | None = None
    #: Method-specific other names of its fields (e.g. Contrast-FEL reads `pvalue` as `p_value`).
    aliases: Mapping[str, str] = field(default_factory=dict)
    #: For a method this service cannot run: why not, given the installed HyPhy (for_hyphy).
    unavailable: Callable[["HyPhyCapabilities"], str] | None = None
    #: The HyPhy whose options this entry reflects (for_hyphy); None: as declared.
    hyphy: "HyPhyCapabilities | None" = None

    @property
    def available(self) -> bool:
        return self.hyphy_name is not None

    def option(self, name: str) -> Option:
        return next(o for o in self.options if o.name == name)

    def data_kind(self, options: Mapping[str, Any]) -> str:
        """What a request with these (canonical) options needs from the alignment: "codon",
        "protein", "nucleotide" or "any" (`data`, or what `data_option`'s HyPhy value reads)."""
        if self.data != "any" or self.data_option is None or options.get(self.data_option) is None:
            return self.data
        return DATA_KIND_OF_TYPE.get(self.option(self.data_option).hyphy_value(options[self.data_option]), "any")

    @property
    def field_aliases(self) -> dict[str, str]:
        """Other names clients use for this method's fields → the field they mean."""
        return {**FIELD_ALIASES, **self.aliases}

    def ignored_fields(self, body: Mapping[str, Any]) -> dict[str, str]:
        """Fields of `body` accepted but ignored (name → why): the `Warning`s of the response."""
        return self._unrecognised(body)[0]

    def _unrecognised(self, body: Mapping[str, Any]) -> tuple[dict[str, str], list[FieldError]]:
        """Fields no option of this method takes, split into harmless (ignored) and refused.

        A public body may carry fields meant for other methods (upstream declares no
        `additionalProperties: false`). Ignoring one is harmless only when it cannot change what
        HyPhy computes: a reporting threshold (REPORTING_FIELDS), or another method's option at
        that method's default (it asks for nothing). Anything else would be silently dropped
        while the client believes it was honoured, so it is refused, as is a name no method has
        (most likely a typo).
        """
        known = {o.name for o in self.options} | set(DATASET_FIELDS) | set(IGNORED_FIELDS) | set(self.field_aliases)
        ignored: dict[str, str] = {}
        errors: list[FieldError] = []
        for name in sorted(set(body) - known):
            owners = [(method_id, option) for method_id, option in _DECLARED.get(name, ()) if method_id != self.id]
            if name in REPORTING_FIELDS:
                ignored[name] = (f"{self.id} takes its p-value threshold as pvalue; {name} changes nothing"
                                 if "pvalue" in known else
                                 f"{self.id} reports no result at a p-value threshold; {name} changes nothing")
            elif owners and any(_is_default(option, body[name]) for _, option in owners):
                ignored[name] = f"{name} is not an option of {self.id}; the value sent is the default of " \
                                f"{', '.join(sorted({m for m, _ in owners}))}, which asks for nothing here"
            elif owners:
                errors.append(FieldError(name, f"not an option of {self.id} (it is one of "
                                               f"{', '.join(sorted({m for m, _ in owners}))}): HyPhy's {self.id} "
                                               "would not honour it; leave it out or send that method's default"))
            else:
                errors.append(FieldError(name, f"unknown option for {self.id}; allowed: "
                                               f"{', '.join(sorted(known - set(IGNORED_FIELDS)))}"))
        return ignored, errors

    def normalize(self, body: Mapping[str, Any]) -> tuple[dict[str, str | None], dict[str, Any]]:
        """Split a start/result body into dataset ids and canonical options (defaults filled).

        Fields `ignored_fields` names are left out, so they never reach the job's options (nor its
        request key). Raises InvalidRequest listing every bad field at once.
        """
        ignored, errors = self._unrecognised(body)
        aliases = self.field_aliases
        for alias, name in aliases.items():
            if alias in body and name in body and body[alias] != body[name]:
                errors.append(FieldError(alias, f"{alias} is another name for {name}: send one of them"))
        body = {aliases.get(k, k): v for k, v in body.items() if k not in ignored}

        datasets: dict[str, str | None] = {}
        for name in DATASET_FIELDS:
            value = body.get(name)
            needed = name == "alignment"  # a tree may also come embedded in the alignment
            if name == "tree" and self.tree == "none":
                if value is not None:
                    errors.append(FieldError(name, f"{self.id} takes no tree (it builds its own)"))
                continue
            if value is None:
                if needed:
                    errors.append(FieldError(name, f"required: the dataset id of the {name}"))
                datasets[name] = None
            elif not isinstance(value, str) or not value.isalnum() or len(value) > 64:
                errors.append(FieldError(name, "must be a dataset id (letters and digits)"))
            else:
                datasets[name] = value

        options: dict[str, Any] = {}
        for option in self.options:
            value = body.get(option.name, option.default)
            if value is None:
                if option.required:
                    errors.append(FieldError(option.name, f"required: {option.description}"))
                options[option.name] = None
                continue
            try:
                options[option.name] = option.normalize(value)
            except FieldError as exc:
                errors.append(exc)
        if not errors and self.check is not None:
            errors.extend(self.check(options, body))
        if errors:
            raise InvalidRequest(errors)
        return datasets, options

    def argv(self, options: Mapping[str, Any], alignment: str, tree: str | None, workdir: str) -> list[str]:
        """HyPhy's arguments after the binary and `CPU=N`: method, inputs, options, outputs.

        A job's options were validated when it was started; one the installed HyPhy lacks by
        now (a retry after the nodes went back to an older HyPhy) is refused, never dropped."""
        args = [self.hyphy_name or self.id, "--alignment", alignment]
        if tree is not None:
            args += ["--tree", tree]
        lost = [FieldError(o.name, f"this job asks for {options[o.name]!r}, but {o.reason}") for o in self.options
                if isinstance(o, NotInHyPhy) and options.get(o.name) is not None
                and not _is_default(o.accepts, options[o.name])]
        if lost:
            raise InvalidRequest(lost)
        for option in self.options:
            args += option.argv(options.get(option.name))
        files = JobDirectory(workdir)
        args += ["--output", str(files.result)]
        for flag, filename in self.job_files.items():
            args += [flag, str(files.output(filename))]
        return args

    def required_flags(self) -> set[str]:
        """Keywords every job of this method passes: without one, HyPhy cannot run it for us."""
        flags = {"--alignment", "--output", *self.job_files}
        if self.tree != "none":
            flags.add("--tree")
        return flags | {o.flag for o in self.options if o.required and o.flag}

    def for_hyphy(self, capabilities: "HyPhyCapabilities") -> "Method":
        """This method as `capabilities`' HyPhy can run it (see the module docstring)."""
        hyphy = capabilities.describe_short()
        if self.hyphy_name is None:
            reason = self.unavailable(capabilities) if self.unavailable else self.unavailable_reason
            return dataclasses.replace(self, unavailable_reason=reason, hyphy=capabilities)
        if not capabilities.has_analysis(self.hyphy_name):
            return dataclasses.replace(
                self, hyphy_name=None, hyphy=capabilities,
                unavailable_reason=f"{hyphy} has no {self.hyphy_name} analysis (`hyphy --help` does not list it)")
        missing = sorted(f for f in self.required_flags() if not capabilities.has_option(self.hyphy_name, f))
        if missing:
            return dataclasses.replace(
                self, hyphy_name=None, hyphy=capabilities,
                unavailable_reason=f"the {self.hyphy_name} analysis of {hyphy} lacks {', '.join(missing)}, "
                                   "which every job needs")
        return dataclasses.replace(self, options=tuple(self._option_for(o, capabilities) for o in self.options),
                                   hyphy=capabilities)

    def _option_for(self, option: Option, capabilities: "HyPhyCapabilities") -> Option:
        base = option.accepts if isinstance(option, NotInHyPhy) else option
        if base.flag is not None and (base.flag in HIDDEN_KEYWORDS
                                      or capabilities.has_option(self.hyphy_name or "", base.flag)):
            return base
        if base.flag is None and not isinstance(option, NotInHyPhy):
            return base  # the service's own option (a report threshold), never HyPhy's
        where = f" ({self.hyphy_name} --help lists no {base.flag})" if base.flag else ""
        return NotInHyPhy(base.name, None, base.default, base.description, required=base.required, accepts=base,
                          reason=f"{capabilities.describe_short()} has no command-line option for it{where}")


def _leisr_model_matches_type(options: dict[str, Any], body: Mapping[str, Any]) -> list[FieldError]:
    """LEISR's model list depends on the data type; a protein run defaults to LG."""
    protein = options["type"] == "Protein"
    if protein and "model" not in body:
        options["model"] = "LG"
    if (options["model"] in PROTEIN_MODELS) != protein and options["model"] != "JC69":
        kind = "protein" if protein else "nucleotide"
        return [FieldError("model", f"{options['model']!r} is not a {kind} model for LEISR type {options['type']!r}")]
    return []


def _bgm_chain_fits(options: dict[str, Any], _body: Mapping[str, Any]) -> list[FieldError]:
    """BGM draws `samples` from the chain after burn-in: HyPhy asks again (and fails on a closed
    stdin) unless 100 ≤ samples ≤ steps − burn_in."""
    room = options["steps"] - options["burn_in"]
    if options["samples"] > room:
        return [FieldError("samples", f"must be at most steps - burn_in ({options['steps']} - {options['burn_in']} "
                                      f"= {room}); lower it or lengthen the chain")]
    return []


def _code() -> GeneticCode:
    return GeneticCode("genetic_code", "--code", "Universal", "Genetic code")


def _branches(default: Any = ()) -> BranchSelection:
    return BranchSelection("branches", "--branches", list(default), "Branches to test: [] = all, or one label")


def _not_in_hyphy(option: Option) -> NotInHyPhy:
    """A spec option no known HyPhy has a keyword for."""
    return NotInHyPhy(option.name, None, option.default, option.description, accepts=option)


def _multiple_hits() -> Option:
    return Choice("multiple_hits", "--multiple-hits", "None", "Multiple-hit model", values=MULTIPLE_HITS)


def _site_multihit() -> Option:
    return Choice("site_multihit", "--site-multihit", "Estimate",
                  "Per-site multiple-hit rates (with multiple_hits Double or Double+Triple)",
                  values={"Estimate": "Estimate", "Global": "Global"})


def _multihit_checks(options: dict[str, Any], _body: Mapping[str, Any]) -> list[FieldError]:
    """HyPhy asks for `site-multihit` only when a multiple-hit model is chosen: otherwise a
    non-default value would be silently ignored."""
    if options.get("site_multihit", "Estimate") != "Estimate" and options.get("multiple_hits") == "None":
        return [FieldError("site_multihit", "only used with multiple_hits 'Double' or 'Double+Triple' "
                                            "(HyPhy ignores it without a multiple-hit model)")]
    return []


def _meme_checks(options: dict[str, Any], body: Mapping[str, Any]) -> list[FieldError]:
    """MEME also takes 2 to 4 omega rate classes (HyPhy refuses others at run time)."""
    errors = _multihit_checks(options, body)
    if not 2 <= options["rates"] <= 4:
        errors.append(FieldError("rates", f"must be 2, 3 or 4 (MEME's omega rate classes), got {options['rates']}"))
    return errors


def _absrel_checks(options: dict[str, Any], _body: Mapping[str, Any]) -> list[FieldError]:
    """aBSREL's bag-of-little-bootstraps rate is at least 0.01 (HyPhy refuses less at run time)."""
    if options["blb"] < 0.01:
        return [FieldError("blb", f"must be at least 0.01 (HyPhy's smallest resampling rate), got {options['blb']}")]
    return []


def _pvalue(flag: str | None, default: float) -> Number:
    """The significance threshold of the job's summary and report (sites or branches at p ≤ it).

    FEL, MEME, SLAC and PRIME pass it to HyPhy (`--pvalue`, which only changes what HyPhy's own
    summary calls significant); aBSREL, BUSTED and RELAX have it hard-coded at 0.05 in their
    .bf files, so there it sets the service's report only (flag None).
    """
    where = "HyPhy's own summary and the report" if flag else "the report (HyPhy fixes its own at 0.05)"
    return Number("pvalue", flag, default, f"p-value threshold of {where}", 0, 1)


def _nrm_unavailable(capabilities: "HyPhyCapabilities") -> str:
    if "nrm" in capabilities.listed:
        return (f"{capabilities.describe_short()} lists an nrm analysis, but this service does not know its options "
                "and results yet")
    return f"{capabilities.describe_short()} ships no NRM analysis (`hyphy --help` lists no nrm)"


def _slatkin_unavailable(capabilities: "HyPhyCapabilities") -> str:
    if "sm" in capabilities.listed:
        return (f"the Slatkin-Maddison analysis (sm) of {capabilities.describe_short()} reads only a tree and "
                "regular expressions that split its tips into compartments; this service's jobs always run on an "
                "alignment")
    return f"{capabilities.describe_short()} has no Slatkin-Maddison analysis (`hyphy --help` lists no sm)"


#: Every method as declared: HyPhy's keywords, whichever release has them.
DECLARED: dict[str, Method] = {
    m.id: m
    for m in (
        Method(
            "fel", "FEL", "Fixed Effects Likelihood: pervasive site-level selection", "fel",
            options=(
                YesNo("ci", "--ci", "No", "Profile-likelihood confidence intervals"),
                YesNo("srv", "--srv", "Yes", "Synonymous rate variation"),
                Number("resample", "--resample", 0, "Parametric bootstrap replicates per site", 0, 1000),
                _multiple_hits(),
                _site_multihit(),
                _code(),
                _branches(),
                _pvalue("--pvalue", 0.1),
            ),
            check=_multihit_checks,
            resources=Resources(time_limit_min=120),
        ),
        Method(
            "meme", "MEME", "Mixed Effects Model of Evolution: episodic site-level selection", "meme",
            options=(
                _code(),
                _multiple_hits(),
                _site_multihit(),
                Integer("rates", "--rates", 2, "Number of omega rate classes (2 to 4)"),
                Number("resample", "--resample", 0, "Parametric bootstrap replicates per site", 0, 1000),
                YesNo("impute_states", "--impute-states", "No", "Impute ancestral states"),
                _pvalue("--pvalue", 0.1),
            ),
            check=_meme_checks,
            resources=Resources(time_limit_min=240),
        ),
        Method(
            "slac", "SLAC", "Single-Likelihood Ancestor Counting", "slac",
            options=(
                _code(),
                _branches(),
                Integer("samples", "--samples", 100, "Ancestral resamples", 0, 100000),
                _pvalue("--pvalue", 0.1),
            ),
        ),
        Method(
            "fubar", "FUBAR", "Fast Unconstrained Bayesian AppRoximation", "fubar",
            options=(
                _code(),
                Integer("grid_points", "--grid", 20, "Grid points per dimension", 5, 50),
                Number("concentration_parameter", "--concentration_parameter", 0.5, "Dirichlet prior concentration", 0.001, 1),
            ),
            job_files={"--cache": "fubar.cache"},
        ),
        Method(
            "absrel", "aBSREL", "adaptive Branch-Site Random Effects Likelihood", "absrel",
            options=(
                YesNo("srv", "--srv", "Yes", "Synonymous rate variation (spec default; HyPhy's own is No)"),
                _multiple_hits(),
                _code(),
                _branches(),
                Number("blb", "--blb", 1, "Bag-of-little-bootstraps alignment resampling rate (0.01 to 1)", 0, 1),
                _pvalue(None, 0.05),
            ),
            check=_absrel_checks,
            resources=Resources(time_limit_min=240),
        ),
        Method(
            "busted", "BUSTED", "Branch-site Unrestricted Statistical Test for Episodic Diversification", "busted",
            options=(
                Choice("srv", "--srv", "Yes", "Synonymous rate variation", values={"Yes": "Yes", "No": "No", "branch-site": "Branch-site"}),
                _multiple_hits(),
                _code(),
                _branches(),
                Integer("rates", "--rates", 3, "Omega rate classes", 1, 10),
                Integer("syn_rates", "--syn-rates", 3, "Synonymous rate classes", 1, 10),
                Integer("grid_size", "--grid-size", 250, "Initial grid size", 1, 10000),
                Integer("starting_points", "--starting-points", 1, "Initial starting points", 1, 1000),
                YesNo("error_sink", "--error-sink", "No", "Error-sink rate class"),
                _pvalue(None, 0.05),
            ),
            resources=Resources(time_limit_min=240),
        ),
        Method(
            "relax", "RELAX", "Test for relaxed or intensified selection on labelled branches", "relax",
            options=(
                _code(),
                LabelList("test_branches", "--test", [], "Label of the test branches (one)", max_items=1),
                LabelList("reference_branches", "--reference", [], "Label of the reference branches (one)", max_items=1),
                Choice("models", "--models", "All", "Models to fit", values={"All": "All", "Minimal": "Minimal"}),
                Integer("rates", "--rates", 3, "Omega rate classes", 2, 10),
                Choice("kill_zero_lengths", "--kill-zero-lengths", "No", "Delete zero-length internal branches (spec default; HyPhy's own is Yes)", values={"Yes": "Yes", "No": "No"}),
                _pvalue(None, 0.05),
            ),
            label_option="test_branches",
            resources=Resources(time_limit_min=480),
        ),
        Method(
            "gard", "GARD", "Genetic Algorithm for Recombination Detection", "gard",
            options=(
                _code(),
                Choice("data_type", "--type", "Nucleotide", "Data type", values={"Nucleotide": "nucleotide", "Protein": "amino-acid"}),
                Choice("run_mode", "--mode", "Normal", "Run mode", values={"Normal": "Normal", "Faster": "Faster"}),
                Choice("site_to_site_variation", "--rv", "None", "Site-to-site rate variation",
                       values={"None": "None", "General Discrete": "GDD", "Beta-Gamma": "Gamma"}),
                Integer("rate_classes", "--rate-classes", 2, "Rate classes (spec default; HyPhy's own is 4)", 2, 10),
                Choice("model", "--model", "JTT", "Protein substitution model", values={m: m for m in PROTEIN_MODELS}),
            ),
            data="any",
            data_option="data_type",
            tree="none",
            job_files={"--output-lf": "result.best-gard"},
            resources=Resources(time_limit_min=1440),
        ),
        Method(
            "bgm", "BGM", "Bayesian Graphical Model of co-evolving sites", "bgm",
            options=(
                _branches(["All"]),
                _code(),
                Choice("data_type", "--type", "codon", "Data type", values={v: v for v in ("nucleotide", "amino-acid", "codon")}),
                Integer("steps", "--steps", 100000, "MCMC chain length", 1, 10**9),
                Integer("burn_in", "--burn-in", 10000, "Burn-in steps", 0, 10**9),
                Integer("samples", "--samples", 100, "Samples drawn from the chain (100 to steps - burn_in)",
                        100, 10**6),
                Integer("max_parents", "--max-parents", 1, "Maximum parents per node", 1, 3),
                Integer("min_subs", "--min-subs", 1, "Minimum substitutions per site", 1, 10**6),
            ),
            data="any",
            data_option="data_type",
            check=_bgm_chain_fits,
        ),
        Method(
            "contrast-fel", "Contrast-FEL", "Site-level differences in selection between branch sets", "contrast-fel",
            options=(
                LabelList("branch_sets", "--branch-set", None, "Branch sets to compare (labels)", required=True, min_items=1),
                _code(),
                YesNo("srv", "--srv", "Yes", "Synonymous rate variation"),
                YesNo("permutations", "--permutations", "Yes", "Permutation test"),
                Number("p_value", "--p-value", 0.05, "p-value threshold", 0, 1),
                Number("q_value", "--q-value", 0.2, "q-value threshold", 0, 1),
            ),
            label_option="branch_sets",
            aliases={"pvalue": "p_value"},
            resources=Resources(time_limit_min=240),
        ),
        Method(
            "multihit", "MULTI-HIT", "Multiple instantaneous nucleotide substitutions (HyPhy FMM)", "fmm",
            options=(
                _code(),
                YesNo("triple_islands", "--triple-islands", "No", "Separate rate for synonymous triple-hit islands"),
                Integer("rate_classes", "--rates", 3, "Rate classes", 1, 10),
            ),
            resources=Resources(time_limit_min=480),
        ),
        Method(
            "fade", "FADE", "FUBAR Approach to Directional Evolution (protein, rooted tree)", "fade",
            options=(
                _branches(),
                _not_in_hyphy(Integer("bayes_factor_threshold", None, 100, "Bayes factor threshold", 1, 1000)),
            ),
            data="protein",
            job_files={"--cache": "fade.cache"},
            resources=Resources(memory_mb=2048, time_limit_min=480),
        ),
        Method(
            "prime", "PRIME", "PRoperty Informed Models of Evolution", "prime",
            options=(
                _code(),
                _branches(),
                _pvalue("--pvalue", 0.1),
                Choice("properties", "--properties", "Atchley", "Amino-acid property set", values={"Atchley": "Atchley", "LCAP": "LCAP"}),
                YesNo("impute_states", "--impute-states", "No", "Impute ancestral states"),
            ),
            status="beta",
            resources=Resources(time_limit_min=2880),
        ),
        Method(
            "leisr", "LEISR", "Likelihood Estimation of Individual Site Rates", "leisr",
            options=(
                Choice("type", "--type", "Nucleotide", "Data type", values={"Nucleotide": "Nucleotide", "Protein": "Protein"}),
                Choice("model", "--model", "GTR", "Substitution model (GTR/HKY85/JC69 for nucleotides; protein: " + ", ".join(PROTEIN_MODELS) + ")",
                       values={m: m for m in ("GTR", "HKY85", "JC69") + PROTEIN_MODELS}),
                Choice("rate_variation", "--rate-variation", "No", "Rate variation", values={"No": "No", "Gamma": "Gamma", "GDD": "GDD"}),
            ),
            data="any",
            data_option="type",
            check=_leisr_model_matches_type,
        ),
        Method(
            "nrm", "NRM", "Non-reversible model", None,
            unavailable=_nrm_unavailable,
        ),
        Method(
            "slatkin", "SLATKIN", "Slatkin-Maddison test for phylogeny-trait association", None,
            tree="required",
            unavailable=_slatkin_unavailable,
        ),
    )
}


#: Every option name → the (method id, Option) pairs that declare it: what a field one method
#: lacks means elsewhere (Method._unrecognised).
_DECLARED: dict[str, list[tuple[str, Option]]] = {}
for _method in DECLARED.values():
    for _option in _method.options:
        _DECLARED.setdefault(_option.name, []).append((_method.id, _option))


def _is_default(option: Option, value: Any) -> bool:
    """Whether `value` is `option`'s default once normalised (both dialects: false == "No")."""
    try:
        return option.normalize(value) == option.normalize(option.default)
    except (FieldError, TypeError):
        return False


def _conservative() -> dict[str, Method]:
    from service.methods.capabilities import ASSUMED

    return {m.id: m.for_hyphy(ASSUMED) for m in DECLARED.values()}


#: The registry for HyPhy 2.5.46 (what is offered when the installed HyPhy is unknown).
METHODS: dict[str, Method] = _conservative()


def get_method(method_id: str) -> Method:
    """The registry entry for an API method name (routing guarantees it exists), for HyPhy 2.5.46;
    the service uses its MethodCatalog (the installed HyPhy) instead."""
    return METHODS[method_id]
