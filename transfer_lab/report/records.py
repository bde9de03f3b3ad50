"""The report's inputs: run records collected from folders, grouped into studies and summarised."""

import json
import math
import statistics
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

from transfer_lab.errors import ConfigError
from transfer_lab.run.record import FAILED_FILE, RESULT_FILE, SIMILARITY_FILE
from transfer_lab.spec import STUDY_KEYS
from transfer_lab.spec import study_name as name_of_study

# Runs recorded before target_per_class existed trained on all images.
STUDY_DEFAULTS = {"target_per_class": None}
# A run is at chance when its top-1 is within this many binomial standard deviations of 1/classes.
CHANCE_SIGMAS = 3


def collect(folders: list[Path]) -> list[dict]:
    """Every run record under `folders`; a failed run is a record with status "failed" and its error."""
    records = []
    for folder in folders:
        folder = Path(folder)
        if not folder.is_dir():
            raise ConfigError(f"report folder {folder} does not exist: give folders that hold runs, e.g. outputs/runs")
        for path in sorted([*folder.rglob(RESULT_FILE), *folder.rglob(FAILED_FILE)]):
            if path.name == FAILED_FILE and (path.parent / RESULT_FILE).exists():
                continue  # failed once, completed on a retry
            try:
                record = json.loads(path.read_text())
            except (OSError, ValueError) as err:
                raise ConfigError(f"{path} is not a readable JSON result ({err}): delete it to have the run redone, then report again") from err
            record.setdefault("run_dir", str(path.parent))
            records.append(record)
    if not records and not any(next(Path(folder).rglob(SIMILARITY_FILE), None) for folder in folders):  # report/similarity.py reads those
        raise ConfigError(f"no runs (result.json, failed.json or {SIMILARITY_FILE}) under {', '.join(map(str, folders))}: run the study first")
    return records


def completed(records: list[dict]) -> list[dict]:
    return [r for r in records if r.get("status") == "completed"]


def at_chance(record: dict) -> bool:
    """Whether a run's top-1 cannot be told from guessing: within CHANCE_SIGMAS binomial standard
    deviations of 1/classes on its validation set (unknown class or image counts: not flagged)."""
    classes, images = record.get("n_classes"), record.get("n_val_images")
    if not classes or not images or record.get("val_top1") is None:
        return False
    chance = 1 / classes
    return record["val_top1"] <= chance + CHANCE_SIGMAS * math.sqrt(chance * (1 - chance) / images)


def study_of(record: dict) -> tuple:
    return tuple(record.get(key, STUDY_DEFAULTS.get(key, "unknown")) for key in STUDY_KEYS)


def study_order(key: tuple) -> tuple:
    """Studies by name, the images-per-class of a family ascending and "all" (None) last."""
    *what, per_class = key
    return tuple(map(str, what)), math.inf if per_class is None else per_class


def study_name(key: tuple) -> str:
    """The name of a study given as its STUDY_KEYS values (the report's study keys)."""
    return name_of_study(dict(zip(STUDY_KEYS, key)))


def summarise(records: list[dict]) -> list[dict]:
    """Mean, std (None for one run), count and runs at chance of final val top-1 per (study, series, k)."""
    runs = defaultdict(list)
    for r in completed(records):
        runs[(*study_of(r), r["series"], r["k"])].append(r)
    rows, n = [], len(STUDY_KEYS)
    for key in sorted(runs, key=lambda key: (study_order(key[:n]), key[n + 1], key[n])):
        values = [r["val_top1"] for r in runs[key]]
        rows.append({
            **dict(zip(STUDY_KEYS, key[:n])), "series": key[n], "k": key[n + 1],
            "mean": statistics.fmean(values), "std": statistics.stdev(values) if len(values) > 1 else None,
            "n": len(values), "at_chance": sum(map(at_chance, runs[key])), "values": values,
        })
    return rows


class Study:
    """The summary rows of one study, indexed by series and k."""

    def __init__(self, key: tuple, summary: list[dict], records: list[dict]):
        self.key = key
        self.rows = [row for row in summary if tuple(row[k] for k in STUDY_KEYS) == key]
        self.cells = {(row["series"], row["k"]): row for row in self.rows}
        self.mean = {point: row["mean"] for point, row in self.cells.items()}
        self.runs = [r for r in records if study_of(r) == key]

    @property
    def name(self) -> str:
        return study_name(self.key)

    @property
    def runs_per_point(self) -> tuple[int, int]:
        """The fewest and most runs behind one point."""
        counts = [row["n"] for row in self.rows] or [0]
        return min(counts), max(counts)

    def series(self, name: str) -> dict[int, float]:
        return {k: mean for (series, k), mean in self.mean.items() if series == name}

    def base(self, half: str) -> float | None:
        return self.mean.get((f"base{half}", 0))


# ---------------------------------------------------------------------------- scarce targets


@dataclass
class ScarcityPoint:
    """One treatment at one number of training images per class (its best k for transfers)."""

    per_class: int | None  # data.target_per_class; None = all images
    x: float | None  # images per class on the x axis: what the runs had (mean per class of the target)
    k: int | None  # the best k of a transfer treatment (highest mean); None for scratch
    cell: dict  # the summary row of (series, k)


def scarcity_families(keys: list[tuple]) -> dict[tuple, list[tuple]]:
    """Studies that differ only in images per class, grouped; only groups with a scarce study."""
    families = defaultdict(list)
    for key in sorted(keys, key=study_order):
        families[key[:-1]].append(key)
    return {family: members for family, members in families.items() if any(m[-1] is not None for m in members)}


def scarcity_points(members: list[Study]) -> dict[str, list[ScarcityPoint]]:
    """Scratch (base on the target), frozen and fine-tuned transfer into it: one point per study of the family."""
    runs = [r for study in members for r in completed(study.runs)]
    targets = Counter(r.get("target") for r in runs if r.get("target_per_class") is not None)
    target = targets.most_common(1)[0][0] if targets else "B"
    source = "A" if target == "B" else "B"
    treatments = {"scratch": f"base{target}", "frozen, best k": f"{source}n{target}", "fine-tuned, best k": f"{source}n{target}+"}
    points = {label: [] for label in treatments}
    for study in members:
        # What the runs trained on: N, unless N exceeds what classes have (or N is "all").
        sizes = [r["n_train_images"] / r["n_classes"] for r in completed(study.runs) if r.get("target") == target and r.get("n_classes")]
        x = statistics.fmean(sizes) if sizes else study.key[-1]
        for label, series in treatments.items():
            means = study.series(series)
            if means:
                k = max(means, key=means.get)
                points[label].append(ScarcityPoint(study.key[-1], x, k or None, study.cells[(series, k)]))
    return points


# ---------------------------------------------------------------------------- words

DATASETS = {"animalfashion": "AnimalFashion-20", "imagenet": "ImageNet (ILSVRC-2012)"}
MODELS = {"alexnet": "CaffeNet (AlexNet)", "alexnet_small": "small AlexNet (8 layers, 28 px input)"}
RECIPES = {"paper": "the paper's solver", "fast": "the paper's solver, 5x shorter", "embedded": "short CPU recipe",
           "tiny": "smoke-test recipe (a few steps, not results)"}


def split_words(split: str) -> str:
    if split == "random":
        return "random class halves"
    if split == "natman":
        return "man-made (A) vs natural (B) halves"
    if split == "all":
        return "all classes"
    if split.startswith("ratio"):
        return f"unequal split, {split.removeprefix('ratio')} source classes"
    return f"split {split}"


def study_title(key: tuple) -> str:
    """A study in words: data, split, model and recipe (and the target's images per class)."""
    dataset, split, model, recipe, per_class = key
    words = [DATASETS.get(dataset, dataset), split_words(split), MODELS.get(model, model), RECIPES.get(recipe, f"recipe {recipe}")]
    if per_class is not None:
        words.append(f"{per_class} training images per class of the target")
    return ", ".join(words)


def schedule_words(runs: list[dict]) -> str:
    """How long the study's networks trained, from their records: "3 epochs (369 steps)"."""
    schedules = Counter((r.get("epochs"), r.get("steps")) for r in completed(runs) if r.get("steps"))
    if not schedules:
        return "training length unknown"
    epochs, steps = schedules.most_common(1)[0][0]
    if not epochs:
        return f"{steps} steps"
    return f"{epochs} epoch{'s' if epochs > 1 else ''} ({steps} steps)"


def runs_words(study: "Study") -> str:
    low, high = study.runs_per_point
    if high == 1:
        return "1 seed (single runs: no error bars)"
    return f"{low} seeds per point" if low == high else f"{low}-{high} seeds per point"
