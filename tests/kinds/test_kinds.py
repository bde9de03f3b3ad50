"""The registry of run kinds: every preset names a registered kind, every kind's run names and runner
resolve, and each kind's series and run names are the paper's."""

import re
from dataclasses import replace

import pytest
import yaml
from conftest import REPO, plain_spec
from hydra.utils import get_method

from transfer_lab.errors import ConfigError
from transfer_lab.kinds import KINDS, kind_named
from transfer_lab.runname import network_name, parse_run

SPEC = plain_spec(kind="transfer", target="B", source="A", k=3, data={"name": "toy"})


def test_every_preset_chooses_a_registered_kind_and_every_kind_has_its_preset():
    chosen = {}
    for path in (REPO / "conf" / "exp").glob("*.yaml"):
        kind = (yaml.safe_load(path.read_text()) or {}).get("kind")
        if kind is not None:
            chosen[path.stem] = kind
    assert set(chosen.values()) == set(KINDS)
    assert all(chosen.get(kind.preset) == kind.name for kind in KINDS.values())


def test_every_kind_s_runner_is_a_function():
    for kind in KINDS.values():
        assert callable(get_method(kind.runner)), kind.name


@pytest.mark.parametrize("name", ["baseA", "AnB_k3", "BnB+_k5", "randomA_k3", "probeBnA_k5"])
def test_a_run_name_parses_to_the_kind_whose_network_it_names(name):
    choice = parse_run(name)
    spec = replace(
        SPEC,
        kind=choice["kind"],
        target=choice["target"] or choice["half"],
        source=choice["source"],
        k=choice["k"] or 0,
        freeze=choice.get("freeze", False),
    )
    assert spec.network == name


def test_the_series_of_each_kind():
    assert [replace(SPEC, kind=kind).series for kind in ("transfer", "probe", "random", "base", "similarity")] == [
        "AnB+",
        "probeAnB",
        "randomB",
        "baseB",
        "similarity",
    ]


def test_an_unknown_or_missing_kind_names_the_presets():
    with pytest.raises(ConfigError, match=r"no experiment chosen: add one of \+exp=base"):
        kind_named(None)
    with pytest.raises(ConfigError, match="kind='fancy' is unknown"):
        kind_named("fancy")
    with pytest.raises(ConfigError, match=re.escape("use baseA, baseB, ")):
        parse_run("AnC_k3")


def test_a_network_name_is_its_series_and_k():
    assert network_name("baseA", 0) == "baseA" and network_name("AnB+", 3) == "AnB+_k3"
    assert network_name("AnB", "1,2") == "AnB_k1,2"
