"""Scarce targets: studies that differ only in the target's training images per class (a family),
each treatment at its best k per study."""

import statistics
from collections import Counter, defaultdict
from dataclasses import dataclass

from transfer_lab.report.records import Cell, Study, completed, study_order
from transfer_lab.study_key import StudyKey


@dataclass
class ScarcityPoint:
    """One treatment at one number of training images per class (its best k for transfers)."""

    per_class: int | None  # data.target_per_class; None = all images
    x: float | None  # images per class on the x axis: what the runs had (mean per class of the target)
    k: int | None  # the best k of a transfer treatment (highest mean); None for scratch
    cell: Cell


def scarcity_families(keys: list[StudyKey]) -> dict[StudyKey, list[StudyKey]]:
    """Studies that differ only in images per class, grouped by their all-images key; only groups with a
    scarce study."""
    families = defaultdict(list)
    for key in sorted(keys, key=study_order):
        families[key.family].append(key)
    return {
        family: members for family, members in families.items() if any(m.target_per_class is not None for m in members)
    }


def scarcity_points(members: list[Study]) -> dict[str, list[ScarcityPoint]]:
    """Scratch (base on the target), frozen and fine-tuned transfer into it: one point per study of the family."""
    runs = [r for study in members for r in completed(study.runs)]
    targets = Counter(r.get("target") for r in runs if r.get("target_per_class") is not None)
    target = targets.most_common(1)[0][0] if targets else "B"
    source = "A" if target == "B" else "B"
    treatments = {
        "scratch": f"base{target}",
        "frozen, best k": f"{source}n{target}",
        "fine-tuned, best k": f"{source}n{target}+",
    }
    points = {label: [] for label in treatments}
    for study in members:
        # What the runs trained on: N, unless N exceeds what classes have (or N is "all").
        sizes = [
            r["n_train_images"] / r["n_classes"]
            for r in completed(study.runs)
            if r.get("target") == target and r.get("n_classes")
        ]
        x = statistics.fmean(sizes) if sizes else study.key.target_per_class
        for label, series in treatments.items():
            cells = study.series(series)
            if cells:
                k = max(cells, key=lambda k: cells[k].mean)
                points[label].append(ScarcityPoint(study.key.target_per_class, x, k or None, cells[k]))
    return points
