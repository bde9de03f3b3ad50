"""A study and its runs in words: data, split, model, recipe, training length, seeds."""

from collections import Counter

from transfer_lab.report.records import Seed, Study, completed
from transfer_lab.study_key import StudyKey

DATASETS = {"animalfashion": "AnimalFashion-20", "imagenet": "ImageNet (ILSVRC-2012)"}
MODELS = {"alexnet": "CaffeNet (AlexNet)", "alexnet_small": "small AlexNet (8 layers, 28 px input)"}
RECIPES = {
    "paper": "the paper's solver",
    "fast": "the paper's solver, 5x shorter",
    "embedded": "short CPU recipe",
    "tiny": "smoke-test recipe (a few steps, not results)",
}


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


def study_title(key: StudyKey, differs: str = "") -> str:
    """A study in words: data, split, model and recipe (and what sets it apart, the target's images per class)."""
    words = [
        DATASETS.get(key.dataset, key.dataset),
        split_words(key.split),
        MODELS.get(key.model, key.model),
        RECIPES.get(key.recipe, f"recipe {key.recipe}"),
    ]
    if differs:
        words.append(differs)
    if key.target_per_class is not None:
        words.append(f"{key.target_per_class} training images per class of the target")
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


def seeds_words(seeds: list[Seed]) -> str:
    """ "seeds 0, 1, 2" (one split seed), else "split seed/seed 0/0, 1/0"."""
    if len({split_seed for split_seed, _ in seeds}) <= 1:
        return f"seed{'s' if len(seeds) != 1 else ''} {', '.join(str(seed) for _, seed in seeds)}"
    return "split seed/seed " + ", ".join(f"{split_seed}/{seed}" for split_seed, seed in seeds)


def runs_words(study: Study) -> str:
    low, high = study.runs_per_point
    if high == 1:
        return "1 seed (single runs: no error bars)"
    return f"{low} seeds per point" if low == high else f"{low}-{high} seeds per point"
