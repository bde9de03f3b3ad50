import numpy as np
import pytest

from transfer_lab.errors import ConfigError
from transfer_lab.splits import make_split, random_halves, relabel

NATURAL_20 = np.array([True] * 10 + [False] * 10)


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_random_half_a_is_the_papers_numpy_draw(seed):
    np.random.seed([seed])  # the authors' exact call, on numpy's legacy global RandomState
    expected = sorted(np.random.choice(np.arange(1000), 500, replace=False))
    assert random_halves(1000, seed) == tuple(expected)


@pytest.mark.parametrize("name", ["random", "natman"])
@pytest.mark.parametrize("seed", [0, 7])
def test_halves_are_disjoint_sorted_and_cover_every_class(name, seed):
    split = make_split(name, seed, NATURAL_20)
    a, b = split.classes("A"), split.classes("B")
    assert set(a).isdisjoint(b)
    assert sorted(a + b) == list(range(20))
    assert list(a) == sorted(a) and list(b) == sorted(b)
    assert len(a) == len(b) == 10


def test_random_split_depends_on_its_seed():
    assert make_split("random", 0, NATURAL_20).halves != make_split("random", 1, NATURAL_20).halves


def test_natman_puts_man_made_in_a_and_natural_in_b():
    split = make_split("natman", 0, NATURAL_20)
    assert not NATURAL_20[list(split.classes("A"))].any()
    assert NATURAL_20[list(split.classes("B"))].all()


def test_a_split_that_leaves_a_half_empty_is_an_error():
    with pytest.raises(ConfigError, match="half B without classes"):
        make_split("natman", 0, np.zeros(20, dtype=bool))  # no natural class at all


def test_unknown_split_is_an_error():
    with pytest.raises(ConfigError, match="unknown split"):
        make_split("alphabetical", 0, NATURAL_20)


def test_relabel_keeps_ascending_original_order():
    classes = (3, 7, 12)
    assert relabel(np.array([12, 3, 7, 3]), classes).tolist() == [2, 0, 1, 0]
