import numpy as np
import pytest

from transfer_lab.data.splits import make_split, random_halves, relabel
from transfer_lab.errors import ConfigError
from transfer_lab.spec import split_label

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


@pytest.mark.parametrize(
    "num_classes, source, counts",
    [
        (20, 18, (18, 2)),
        (20, 15, (15, 5)),
        (20, 0.9, (18, 2)),
        (1000, 990, (990, 10)),
        (1000, 900, (900, 100)),
        (1000, 0.99, (990, 10)),
    ],
)
def test_ratio_splits_have_the_asked_counts_and_are_disjoint_and_complete(num_classes, source, counts):
    split = make_split("ratio", 0, np.zeros(num_classes, dtype=bool), source_classes=source)
    a, b = split.classes("A"), split.classes("B")
    assert (len(a), len(b)) == counts
    assert set(a).isdisjoint(b) and sorted(a + b) == list(range(num_classes))


def test_a_ratio_split_is_seeded_and_an_equal_ratio_is_the_papers_random_split():
    ratio = make_split("ratio", 3, NATURAL_20, source_classes=10)
    assert ratio.halves == make_split("random", 3, NATURAL_20).halves
    assert ratio.halves == make_split("ratio", 3, NATURAL_20, source_classes=10).halves
    assert (
        make_split("ratio", 0, NATURAL_20, source_classes=15).halves
        != make_split("ratio", 1, NATURAL_20, source_classes=15).halves
    )


@pytest.mark.parametrize(
    "num_classes, source, message",
    [
        (20, 19, "leaves 1 of 20 classes for the target"),
        (1000, 999, "one class is not a classification task"),
        (20, 20, "leaves 0 of 20 classes for the target"),
        (20, 0, "leaves the source half without classes"),
        (20, 0.01, "leaves the source half without classes"),  # rounds to 0 classes
        (20, 1.5, "is not a class count or a fraction"),
        (20, "???", "is not a class count or a fraction"),
        (20, True, "is not a class count or a fraction"),
    ],
)
def test_bad_ratio_splits_are_one_line_errors(num_classes, source, message):
    with pytest.raises(ConfigError, match=message) as err:
        make_split("ratio", 0, np.zeros(num_classes, dtype=bool), source_classes=source)
    assert "\n" not in str(err.value) and "split.source_classes=" in str(err.value)


def test_a_classes_split_takes_the_lists_as_given():
    split = make_split("classes", 0, NATURAL_20, A=[5, 1, 3], B=[19, 0])
    assert split.halves == {"A": (1, 3, 5), "B": (0, 19)}


@pytest.mark.parametrize(
    "a, b, message",
    [
        ([0, 1], [1, 2], "share classes \\[1\\]"),
        ([0, 20], [1], "not class indices 0..19"),
        ([0, -1], [1], "not class indices 0..19"),
        ([], [1, 2], "not a non-empty list"),
        ([0, 1], "???", "not a non-empty list"),
        ([0, 0], [1, 2], "lists a class twice"),
        ([0, 1.5], [2, 3], "not class indices"),
    ],
)
def test_bad_class_lists_are_one_line_errors(a, b, message):
    with pytest.raises(ConfigError, match=message):
        make_split("classes", 0, NATURAL_20, A=a, B=b)


def test_the_all_split_puts_every_class_in_a_and_refuses_half_b():
    split = make_split("all", 0, NATURAL_20)
    assert split.classes("A") == tuple(range(20))
    with pytest.raises(ConfigError, match="puts no classes in half B"):
        split.classes("B")


def test_a_one_class_target_is_refused():
    split = make_split("classes", 0, NATURAL_20, A=[0, 1, 2], B=[3])
    split.check_target("A")
    with pytest.raises(ConfigError, match="one class is not a classification task"):
        split.check_target("B")


def test_options_of_another_split_are_refused():
    with pytest.raises(ConfigError, match="split=random takes no option source_classes"):
        make_split("random", 0, NATURAL_20, source_classes=18)


def test_split_labels_tell_unequal_and_explicit_splits_apart():
    assert split_label({"name": "random", "seed": 0}) == "random"
    assert split_label({"name": "ratio", "seed": 0, "source_classes": 18}) == "ratio18"
    explicit = [split_label({"name": "classes", "seed": 0, "A": a, "B": [9]}) for a in ([0, 1], [0, 2])]
    assert explicit[0] != explicit[1] and all(label.startswith("classes") for label in explicit)
