"""Class splits: which of a dataset's classes form half A and which form half B.

A split is made from the dataset's class table alone (the number of classes and the natural /
man-made flag of each), so the same code serves the embedded data and ImageNet.
  random    the paper's random halves (split.seed)
  natman    natural vs man-made
  ratio     unequal halves: A = split.source_classes seeded classes (a count or a fraction), B = the rest
  classes   explicit lists split.A and split.B
  all       every class in half A, none in B (the random-filters control trains on all classes)
"""

from dataclasses import dataclass

import numpy as np

from transfer_lab.errors import ConfigError
from transfer_lab.spec import HALVES

# The options each split takes besides name and seed.
SPLIT_OPTIONS = {"random": (), "natman": (), "all": (), "ratio": ("source_classes",), "classes": ("A", "B")}
MIN_TARGET_CLASSES = 2


@dataclass(frozen=True)
class Split:
    name: str
    seed: int
    halves: dict[str, tuple[int, ...]]  # half -> original class indices, ascending

    def classes(self, half: str) -> tuple[int, ...]:
        if not self.halves[half]:
            raise ConfigError(
                f"split={self.name} puts no classes in half {half}: "
                "train on half A (half=A / target=A), or choose another split"
            )
        return self.halves[half]

    def check_target(self, half: str) -> None:
        """A run's own half must hold a classification task: at least two classes."""
        if len(self.classes(half)) < MIN_TARGET_CLASSES:
            raise ConfigError(
                f"half {half} of split={self.name} has {len(self.halves[half])} class, and a target needs at least "
                f"{MIN_TARGET_CLASSES} (one class is not a classification task): give it more classes"
            )


def random_classes(num_classes: int, count: int, seed: int) -> tuple[int, ...]:
    """`count` classes drawn as the authors drew half A: numpy's legacy RandomState([seed]).choice."""
    rng = np.random.RandomState([seed])
    return tuple(sorted(int(c) for c in rng.choice(np.arange(num_classes), count, replace=False)))


def random_halves(num_classes: int, seed: int) -> tuple[int, ...]:
    """Half A of the paper's random split: exactly the authors' numpy legacy-RandomState draw."""
    return random_classes(num_classes, num_classes // 2, seed)


def make_split(name: str, seed: int, natural: np.ndarray, **options) -> Split:
    """Halves A and B for split `name` over classes flagged natural (True) or man-made (False)."""
    if name not in SPLIT_OPTIONS:
        raise ConfigError(f"unknown split {name!r}: use split=random, natman, ratio, classes or all")
    unknown = sorted(set(options) - set(SPLIT_OPTIONS[name]))
    if unknown:
        raise ConfigError(f"split={name} takes no option {', '.join(unknown)}: drop split.{unknown[0]}")
    num_classes = len(natural)
    if name == "random":
        a = random_halves(num_classes, seed)
    elif name == "natman":
        # The paper's text calls man-made "A" and natural "B" (the authors' files label them the other way).
        a = tuple(int(c) for c in np.flatnonzero(~np.asarray(natural, dtype=bool)))
    elif name == "ratio":
        a = random_classes(num_classes, _source_count(options.get("source_classes"), num_classes), seed)
    elif name == "classes":
        a, b = (_class_list(options.get(half), half, num_classes) for half in HALVES)
        if set(a) & set(b):
            raise ConfigError(
                f"split.A and split.B share classes {sorted(set(a) & set(b))}: give each class to one half"
            )
        return Split(name=name, seed=seed, halves={"A": a, "B": b})
    else:  # all
        return Split(name=name, seed=seed, halves={"A": tuple(range(num_classes)), "B": ()})
    in_a = set(a)
    b = tuple(c for c in range(num_classes) if c not in in_a)
    for half, classes in zip(HALVES, (a, b)):
        if not classes:
            raise ConfigError(f"split={name} leaves half {half} without classes; choose another split")
    return Split(name=name, seed=seed, halves={"A": a, "B": b})


def _source_count(value, num_classes: int) -> int:
    """split.source_classes as a class count: an integer, or a fraction in (0, 1) of the classes."""
    example = f"e.g. split.source_classes={num_classes - MIN_TARGET_CLASSES} or split.source_classes=0.9"
    if isinstance(value, float) and 0 < value < 1:
        count = round(value * num_classes)
    elif isinstance(value, int) and not isinstance(value, bool):
        count = value
    else:
        raise ConfigError(f"split.source_classes={value!r} is not a class count or a fraction in (0, 1): {example}")
    if count < 1:
        raise ConfigError(f"split.source_classes={value} leaves the source half without classes: {example}")
    if num_classes - count < MIN_TARGET_CLASSES:
        raise ConfigError(
            f"split.source_classes={value} leaves {num_classes - count} of {num_classes} classes for the target, and a "
            f"target needs at least {MIN_TARGET_CLASSES} (one class is not a classification task): {example}"
        )
    return count


def _class_list(value, half: str, num_classes: int) -> tuple[int, ...]:
    example = f"e.g. split.{half}=[0,1,2]"
    if not isinstance(value, (list, tuple)) or not value:
        raise ConfigError(f"split.{half}={value!r} is not a non-empty list of class indices: {example}")
    if not all(isinstance(c, int) and not isinstance(c, bool) and 0 <= c < num_classes for c in value):
        raise ConfigError(
            f"split.{half}={list(value)} holds values that are not class indices 0..{num_classes - 1}: {example}"
        )
    if len(set(value)) != len(value):
        raise ConfigError(f"split.{half}={list(value)} lists a class twice: {example}")
    return tuple(sorted(value))


def relabel(labels: np.ndarray, classes: tuple[int, ...]) -> np.ndarray:
    """Map original class indices to 0..n-1 in ascending original order (the paper's re-indexing)."""
    lookup = np.full(int(max(classes)) + 1, -1, dtype=np.int64)
    lookup[list(classes)] = np.arange(len(classes))
    return lookup[labels]
