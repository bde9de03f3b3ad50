"""Class splits: which of a dataset's classes form half A and which form half B.

A split is made from the dataset's class table alone (the number of classes and the natural /
man-made flag of each), so the same code serves the embedded data and ImageNet.
"""

from dataclasses import dataclass

import numpy as np

from transfer_lab.errors import ConfigError

HALVES = ("A", "B")


@dataclass(frozen=True)
class Split:
    name: str
    seed: int
    halves: dict[str, tuple[int, ...]]  # half -> original class indices, ascending

    def classes(self, half: str) -> tuple[int, ...]:
        return self.halves[half]


def random_halves(num_classes: int, seed: int) -> tuple[int, ...]:
    """Half A of the paper's random split: exactly the authors' numpy legacy-RandomState draw."""
    rng = np.random.RandomState([seed])
    return tuple(sorted(int(c) for c in rng.choice(np.arange(num_classes), num_classes // 2, replace=False)))


def make_split(name: str, seed: int, natural: np.ndarray) -> Split:
    """Halves A and B for split `name` over classes flagged natural (True) or man-made (False)."""
    num_classes = len(natural)
    if name == "random":
        a = random_halves(num_classes, seed)
    elif name == "natman":
        # The paper's text calls man-made "A" and natural "B" (the authors' files label them the other way).
        a = tuple(int(c) for c in np.flatnonzero(~np.asarray(natural, dtype=bool)))
    else:
        raise ConfigError(f"unknown split {name!r}: use split=random or split=natman")
    in_a = set(a)
    b = tuple(c for c in range(num_classes) if c not in in_a)
    for half, classes in zip(HALVES, (a, b)):
        if not classes:
            raise ConfigError(f"split={name} leaves half {half} without classes; choose another split")
    return Split(name=name, seed=seed, halves={"A": a, "B": b})


def relabel(labels: np.ndarray, classes: tuple[int, ...]) -> np.ndarray:
    """Map original class indices to 0..n-1 in ascending original order (the paper's re-indexing)."""
    lookup = np.full(int(max(classes)) + 1, -1, dtype=np.int64)
    lookup[list(classes)] = np.arange(len(classes))
    return lookup[labels]
