"""The gated cells: every family's main case, in every tier; and the probe counts nothing it
has not checked."""

from types import SimpleNamespace

import pytest

from bench import lineup
from bench.cases import cases
from bench.gate import probe
from bench.gate.cells import CELLS, Key, all_keys
from impls import registry


def test_every_family_with_tiers_of_its_own_has_a_gated_cell_in_every_tier():
    assert {c.family for c in CELLS} == set(registry.families())
    for family in registry.families():
        assert {k.tier for k in all_keys() if k.family == family} == set(registry.tiers(family))


def test_every_cell_is_a_timed_case_of_its_family():
    for c in CELLS:
        [case] = [x for x in cases(c.family) if x.name == c.case]
        assert case.kind == "time"


def test_cells_parse_and_print_alike():
    assert str(Key.parse("serial/proto_decode/numba")) == "serial/proto_decode/numba"
    with pytest.raises(ValueError):
        Key.parse("serial/proto_decode/fortran")
    with pytest.raises(ValueError):
        Key.parse("serial/nothing/pure")


class _WrongRing:
    """A ring whose owners are wrong: the probe must refuse to count it."""

    def __init__(self, nodes, vnodes):
        self.nodes = list(nodes)

    def lookup(self, key):
        return self.nodes[0]


def test_the_probe_refuses_a_tier_whose_output_differs_from_pure(monkeypatch, capsys):
    real_get = lineup.get

    def get(family, name):
        if name == "cython":
            return lineup.Impl(family, name, lineup.TIER, SimpleNamespace(Ring=_WrongRing, warmup=lambda: None))
        return real_get(family, name)

    monkeypatch.setattr(lineup, "get", get)
    with pytest.raises(SystemExit) as exit_:
        probe.main(["hashring", "lookup", "cython", "prime"])
    assert exit_.value.code == probe.EXIT_CHECK_FAILED
    assert "output differs from the reference (pure)" in capsys.readouterr().err
