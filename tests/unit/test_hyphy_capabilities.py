"""The registry follows the installed HyPhy: collector output → capabilities → methods and options.

The fixtures under tests/fixtures/hyphy-capabilities were written by scripts/hyphy-capabilities.sh
itself: 2.5.46-bookworm on Debian 12's hyphy-pt 2.5.47+dfsg-1 (reports 2.5.46), 2.5.68-trixie in a
Debian 13 container with hyphy-pt 2.5.69+dfsg-1 (reports 2.5.68).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from service.errors import InvalidRequest
from service.methods import METHODS
from service.methods.capabilities import (
    _OPTIONS_2_5_46,
    ASSUMED,
    COLLECTOR,
    SOURCE_ASSUMED,
    SOURCE_PUBLISHED,
    FixedCapabilities,
    LocalBinaryCapabilities,
    MethodCatalog,
    PublishedCapabilities,
    parse_help,
    read_collection,
)
from service.methods.options import NotInHyPhy
from service.methods.registry import DECLARED, HIDDEN_KEYWORDS
from tests.conftest import ADH_NEXUS, upload_id
from tests.unit.helpers import error_fields, start, start_ok

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "hyphy-capabilities"


def collection(name: str, source: str = SOURCE_PUBLISHED):
    return read_collection(FIXTURES / name, source)


def pin_hyphy(app, name: str) -> None:
    """Make the app's method catalog use one fixture HyPhy, whatever is installed here."""
    app.app.extensions["datamonkey"].methods.provider = FixedCapabilities(collection(name))


OLD, NEW = collection("2.5.46-bookworm"), collection("2.5.68-trixie")


# -- parsing the collector's output -------------------------------------------------------------
def test_versions_and_analyses_are_read_from_the_collection():
    assert OLD.version == "2.5.46" and NEW.version == "2.5.68"
    for capabilities in (OLD, NEW):
        assert {m.hyphy_name for m in DECLARED.values() if m.hyphy_name} <= set(capabilities.options)
        assert "sm" in capabilities.options and "nrm" not in capabilities.listed
    assert {"contrast-meme", "error-filter"} <= set(NEW.options) - set(OLD.options)
    assert NEW.details["binary"] == "/usr/lib/hyphy/bin/hyphy" and NEW.details["collected"]


def test_help_parsing_takes_option_lines_only():
    text = (FIXTURES / "2.5.46-bookworm/help/sm").read_text()
    assert parse_help(text) == {"tree", "groups", "replicates", "weight", "use-bootstrap", "output"}
    assert parse_help("Available analysis command line options\nNo annotated keyword arguments") == set()


def test_the_assumed_2_5_46_options_are_what_2_5_46_lists():
    assert ASSUMED.version == OLD.version
    assert {name: OLD.options[name] for name in _OPTIONS_2_5_46} == dict(ASSUMED.options)


def test_options_2_5_68_adds_over_2_5_46():
    added = {name: sorted(NEW.options[name] - OLD.options[name]) for name in _OPTIONS_2_5_46}
    assert {k: v for k, v in added.items() if v} == {
        "fel": ["multiple-hits", "site-multihit"],
        "meme": ["impute-states", "multiple-hits", "precision", "rates", "site-multihit"],
        "absrel": ["blb", "save-fit"],
        "busted": ["error-sink"],
        "relax": ["filelist", "multiple-files"],
    }
    assert all(OLD.options[name] <= NEW.options[name] for name in _OPTIONS_2_5_46)


# -- the registry for one HyPhy -------------------------------------------------------------------
def lacking(capabilities) -> dict[str, list[str]]:
    methods = {m.id: m.for_hyphy(capabilities) for m in DECLARED.values()}
    return {m.id: [o.name for o in m.options if isinstance(o, NotInHyPhy)] for m in methods.values()
            if any(isinstance(o, NotInHyPhy) for o in m.options)}


def test_every_declared_flag_is_a_keyword_of_2_5_68():
    assert lacking(NEW) == {"fade": ["bayes_factor_threshold"]}
    for method in DECLARED.values():
        if method.hyphy_name:
            flags = {o.flag for o in method.options if o.flag} | method.required_flags()
            assert flags - HIDDEN_KEYWORDS - {"--" + k for k in NEW.options[method.hyphy_name]} == set(), method.id


def test_2_5_46_lacks_what_the_registry_refused_before():
    assert lacking(OLD) == lacking(ASSUMED) == {
        "fel": ["multiple_hits", "site_multihit"], "meme": ["multiple_hits", "site_multihit", "rates", "impute_states"],
        "absrel": ["blb"], "busted": ["error_sink"], "fade": ["bayes_factor_threshold"]}
    assert lacking(ASSUMED) == {m.id: [o.name for o in m.options if isinstance(o, NotInHyPhy)]
                                for m in METHODS.values() if any(isinstance(o, NotInHyPhy) for o in m.options)}


@pytest.mark.parametrize("method_id,body,flags", [
    ("fel", {"multiple_hits": "Double"}, ["--multiple-hits", "Double", "--site-multihit", "Estimate"]),
    ("fel", {"multiple_hits": "Double+Triple", "site_multihit": "Global"},
     ["--multiple-hits", "Double+Triple", "--site-multihit", "Global"]),
    ("meme", {"multiple_hits": "Double", "rates": 3, "impute_states": True},
     ["--multiple-hits", "Double", "--rates", "3", "--impute-states", "Yes"]),
    ("absrel", {"blb": 0.5}, ["--blb", "0.5"]),
    ("busted", {"error_sink": "Yes"}, ["--error-sink", "Yes"]),
])
def test_2_5_68_runs_the_options_2_5_46_refuses(method_id, body, flags):
    new, old = DECLARED[method_id].for_hyphy(NEW), DECLARED[method_id].for_hyphy(OLD)
    _, options = new.normalize({"alignment": "a", **body})
    args = new.argv(options, "A", "T", "/w")
    for flag, value in zip(flags[::2], flags[1::2]):
        assert args[args.index(flag) + 1] == value, (flag, args)
    with pytest.raises(InvalidRequest) as refused:
        old.normalize({"alignment": "a", **body})
    assert all("HyPhy 2.5.46 has no command-line option for it" in e.message for e in refused.value.errors)


def test_a_missing_option_names_the_installed_version_and_keyword():
    fade = DECLARED["fade"].for_hyphy(NEW)
    with pytest.raises(InvalidRequest) as refused:
        fade.normalize({"alignment": "a", "bayes_factor_threshold": 50})
    assert refused.value.errors[0].message == ("only the default 100 is supported: HyPhy 2.5.68 has no command-line "
                                               "option for it")
    with pytest.raises(InvalidRequest) as refused:
        DECLARED["fel"].for_hyphy(ASSUMED).normalize({"alignment": "a", "multiple_hits": "Double"})
    assert "HyPhy 2.5.46 (assumed" in refused.value.errors[0].message
    assert "fel --help lists no --multiple-hits" in refused.value.errors[0].message


@pytest.mark.parametrize("method_id,body,field", [
    ("fel", {"site_multihit": "Global"}, "site_multihit"),      # HyPhy asks only with a multiple-hit model
    ("meme", {"rates": 5}, "rates"),                            # MEME: 2 to 4
    ("meme", {"rates": 1}, "rates"),
    ("absrel", {"blb": 0.001}, "blb"),                          # at least 0.01
])
def test_values_2_5_68_would_ignore_or_refuse_at_run_time_are_422(method_id, body, field):
    with pytest.raises(InvalidRequest) as refused:
        DECLARED[method_id].for_hyphy(NEW).normalize({"alignment": "a", **body})
    assert [e.field for e in refused.value.errors] == [field]


def test_a_job_whose_option_the_hyphy_lost_is_refused_not_silently_dropped():
    """A retry after the nodes went back to 2.5.46: the job's options were validated under 2.5.68."""
    _, options = DECLARED["fel"].for_hyphy(NEW).normalize({"alignment": "a", "multiple_hits": "Double"})
    with pytest.raises(InvalidRequest) as refused:
        DECLARED["fel"].for_hyphy(OLD).argv(options, "A", None, "/w")
    assert refused.value.errors[0].field == "multiple_hits"
    assert "HyPhy 2.5.46" in refused.value.errors[0].message


def test_nrm_and_slatkin_stay_unavailable_and_say_why():
    for capabilities in (OLD, NEW):
        nrm, slatkin = DECLARED["nrm"].for_hyphy(capabilities), DECLARED["slatkin"].for_hyphy(capabilities)
        assert not nrm.available and not slatkin.available
        assert f"HyPhy {capabilities.version} ships no NRM analysis" in nrm.unavailable_reason
        assert "(sm)" in slatkin.unavailable_reason and "alignment" in slatkin.unavailable_reason


def test_a_method_whose_analysis_is_missing_is_unavailable():
    partial = type(NEW)(NEW.version, NEW.source, {k: v for k, v in NEW.options.items() if k != "fmm"}, NEW.listed)
    multihit = DECLARED["multihit"].for_hyphy(partial)
    assert not multihit.available
    assert multihit.unavailable_reason == "HyPhy 2.5.68 has no fmm analysis (`hyphy --help` does not list it)"


# -- where the capabilities come from -----------------------------------------------------------------
def publish(source: Path, target: Path) -> None:
    subprocess.run(["sh", str(COLLECTOR), "--copy", str(source), str(target)], check=True)


def test_published_capabilities_follow_the_nodes(tmp_path):
    now = [0.0]
    directory = tmp_path / "jobs" / ".hyphy"
    published = PublishedCapabilities(directory, check_every_s=1.0, clock=lambda: now[0])
    assumed = published.current()
    assert assumed.source == SOURCE_ASSUMED and assumed.version == "2.5.46"
    assert str(directory) in assumed.details["note"]

    publish(FIXTURES / "2.5.68-trixie", directory)
    assert published.current() is assumed, "re-checked at most once per second"
    now[0] = 1.0
    assert published.current().version == "2.5.68" and published.current().source == SOURCE_PUBLISHED
    first = published.current()
    now[0] = 2.0
    assert published.current() is first, "an unchanged directory is not parsed again"

    publish(FIXTURES / "2.5.46-bookworm", directory)
    now[0] = 3.0
    assert published.current().version == "2.5.46" and published.current().source == SOURCE_PUBLISHED

    shutil.rmtree(directory)
    now[0] = 4.0
    assert published.current().version == "2.5.46" and not published.current().assumed, "last good one kept"


def test_the_collector_copy_replaces_the_whole_directory(tmp_path):
    target = tmp_path / ".hyphy"
    publish(FIXTURES / "2.5.68-trixie", target)
    (target / "stale").write_text("x")
    publish(FIXTURES / "2.5.46-bookworm", target)
    assert not (target / "stale").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == [".hyphy"], "no temporary directory left behind"


def test_a_missing_binary_falls_back_to_2_5_46(tmp_path):
    local = LocalBinaryCapabilities(str(tmp_path / "no-hyphy")).current()
    assert local.assumed and "could not collect" in local.details["note"]


@pytest.mark.skipif(not Path("/usr/lib/hyphy/bin/hyphy").exists(), reason="HyPhy is not installed")
def test_the_collector_runs_on_the_installed_hyphy(tmp_path):
    subprocess.run(["sh", str(COLLECTOR), str(tmp_path / "out"), "/usr/lib/hyphy/bin/hyphy", "fel", "nosuch"],
                   check=True, timeout=60)
    collected = read_collection(tmp_path / "out", SOURCE_PUBLISHED)
    assert set(collected.options) == {"fel"} and "fel" in collected.listed
    assert (tmp_path / "out" / "exit-codes").read_text().split("\n")[1].startswith("nosuch ")
    assert {"alignment", "output", "srv"} <= collected.options["fel"]


# -- through the API ---------------------------------------------------------------------------------
def test_get_methods_says_which_hyphy_and_which_options(app, client):
    pin_hyphy(app, "2.5.68-trixie")
    body = client.get("/api/v1/methods").json()
    assert body["hyphy"]["version"] == "2.5.68" and body["hyphy"]["source"] == SOURCE_PUBLISHED
    assert body["hyphy"]["scheduler"] == "LocalScheduler"
    assert {m["id"] for m in body["hyphy"]["unavailable_methods"]} == {"nrm", "slatkin"}
    fel = {p["name"]: p for p in next(m for m in body["methods"] if m["id"] == "fel")["parameters"]}
    assert fel["multiple_hits"]["available"] is True and "unavailable_reason" not in fel["multiple_hits"]

    pin_hyphy(app, "2.5.46-bookworm")
    fel = {p["name"]: p for p in next(m for m in client.get("/api/v1/methods").json()["methods"]
                                      if m["id"] == "fel")["parameters"]}
    assert fel["multiple_hits"]["available"] is False
    assert fel["multiple_hits"]["unavailable_reason"].startswith("only the default is accepted: HyPhy 2.5.46")


def test_get_methods_says_when_2_5_46_is_assumed(app, client, tmp_path):
    app.app.extensions["datamonkey"].methods.provider = PublishedCapabilities(tmp_path / ".hyphy")
    hyphy = client.get("/api/v1/methods").json()["hyphy"]
    assert hyphy["source"] == SOURCE_ASSUMED and hyphy["version"] == "2.5.46"
    assert "nothing published" in hyphy["note"]


def test_start_passes_an_option_the_installed_hyphy_has(app, client, fake):
    adh = upload_id(client, ADH_NEXUS)
    pin_hyphy(app, "2.5.46-bookworm")
    assert error_fields(start(client, "fel", {"alignment": adh, "multiple_hits": "Double"})) == ["multiple_hits"]
    pin_hyphy(app, "2.5.68-trixie")
    job = start_ok(client, "fel", {"alignment": adh, "multiple_hits": "Double"})
    argv = fake.submitted[job["job_id"]].argv
    assert argv[argv.index("--multiple-hits") + 1] == "Double"


def test_the_service_uses_the_catalog_of_its_scheduler(app):
    services = app.app.extensions["datamonkey"]
    assert isinstance(services.methods, MethodCatalog) and services.jobs.methods is services.methods
    assert services.methods.get("fel").hyphy is services.methods.capabilities
