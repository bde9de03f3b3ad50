"""report.md: what the runs say and how sure it is (seeds per cell, spread, 95% intervals, runs at chance)."""

import math

from transfer_lab.report.findings import (
    AT_CHANCE,
    Finding,
    boosts,
    findings,
    interval_text,
    paper_numbers,
    paper_value,
    pp,
    seeds_command,
)
from transfer_lab.report.records import CHANCE_SIGMAS, Cell, Study, at_chance, completed
from transfer_lab.report.scarcity import ScarcityPoint
from transfer_lab.report.words import runs_words, schedule_words, seeds_words, study_title

PAPER = (
    'Yosinski, Clune, Bengio and Lipson, "How transferable are features in deep neural networks?", '
    "NIPS 2014 (the paper)"
)
NOTATION = [
    "Notation (the paper's): **baseA / baseB** = a network trained from scratch on half A / B of the classes. "
    "**AnB** at k = the first k layers copied from baseA and frozen, the rest trained on B (transfer); "
    "**BnB** = the same from baseB (the selffer control); **+** = the copied layers are fine-tuned too (AnB+, BnB+). "
    "**AnB(1,2)** = the mean of AnB at k=1 and k=2; **AnB+(1..7)** = its mean over k = 1..7; "
    "**BnB(1,2,7) - BnB(3..6)** = the mean of BnB at k=1, 2, 7 minus its mean at k=3..6. "
    "pp = percentage points of top-1.",
    "",
    "Each cell: final validation top-1 on the target half; with several seeds `mean ± std (n seeds)` (std: the "
    "sample standard deviation over seeds), with one `value (1 seed)`; a cell whose seeds are not all the study's "
    "says which it holds. A study's seeds are those at which it trained a network other than a base network, so that "
    "every cell compares the same seeds; a base trained for another run's seed (the reference base of a similarity "
    "run) is listed under the table instead.",
    "",
    "Statistics: each finding is a fixed contrast of cells, judged against the threshold its words state (-1 pp for "
    '"within 1 pp or above", 0 for "above", +1 pp for "more than 1 pp"). Its estimate is the mean over seeds '
    "of the per-seed contrast, at the seeds present in every cell it uses (paired: the same split seed and seed, "
    "hence the same base networks); its 95% confidence interval is Student's t with n - 1 degrees of freedom "
    "(Student 1908). Contrasts between two studies cannot pair and use Welch's t with Satterthwaite's degrees of "
    "freedom (Welch 1947). *holds*: the whole interval lies above the threshold; *does not hold*: wholly below it; "
    "*undecided*: the interval contains it, with about how many seeds would decide it if the estimate and its "
    "per-seed spread stayed as observed (the interval's half-width is t(n-1) std / sqrt(n): at n = 3 it is 2.5 "
    "per-seed std); *indicative only*: 1 seed, no interval; "
    f"*{AT_CHANCE}*: a run behind it scored within {CHANCE_SIGMAS} binomial standard deviations of 1/classes "
    "(marked *at chance* in the tables). The five findings are not corrected for multiple comparisons. "
    "More: docs/statistics.md in the repository.",
    "",
]


def cell_text(cell: Cell | None, study_seeds: list | None = None) -> str:
    if cell is None:
        return ""
    text = f"{cell.mean:.4f} (1 seed" if cell.n == 1 else f"{cell.mean:.4f} ± {cell.std:.4f} ({cell.n} seeds"
    if study_seeds is not None and list(cell.values) != list(study_seeds):
        text += ": " + seeds_words(list(cell.values)).removeprefix("seeds ").removeprefix("seed ")
    if cell.at_chance:
        text += f", {cell.at_chance} at chance" if cell.n > 1 else ", at chance"
    return text + ")"


def header(studies: list[Study], sources: str) -> list[str]:
    lines = [
        "# Transfer study report",
        "",
        f"Reproduces {PAPER}: how top-1 on half B changes when the first k layers come from a network trained "
        "on half A (Figure 2 and Table 1; Figure 3 for the natural / man-made split and random filters). "
        "Compared here: our final validation top-1 against the paper's (on ImageNet: the mean of its 10 best "
        "validations, shown in brackets and in grey in the figures), and the paper's qualitative findings "
        "checked on our numbers.",
        "",
        f"Runs from: {sources}.",
        "",
    ]
    if len(studies) > 1:
        lines += [
            f"{len(studies)} studies (dataset-split-model-recipe[-n<images per class>]), reported separately, "
            "never averaged together.",
            "",
        ]
    if any(study.key.dataset == "animalfashion" for study in studies):
        lines += [
            "Data: AnimalFashion-20 (silhouettes vs clothing), a far easier and more dissimilar gap than "
            "ImageNet's natural vs man-made: findings here say how the method behaves, not what ImageNet does.",
            "",
        ]
    return lines + NOTATION


def study_markdown(study: Study, natman: Study | None, figure: str | None, paths_root: str | None) -> list[str]:
    split = study.key.split
    done = completed(study.runs)
    chance = [r for r in done if at_chance(r)]
    lines = [
        f"## {study.name}",
        "",
        f"{study_title(study.key, study.differs_words)}: {runs_words(study)}; "
        f"{seeds_words(study.seeds)}; {schedule_words(study.runs)}; {len(done)} completed runs, "
        f"{len(study.runs) - len(done)} failed.",
        "",
    ]
    if chance:
        lines += [
            f"**{len(chance)} of {len(done)} runs are at chance** (top-1 within {CHANCE_SIGMAS} binomial std of "
            f"1/classes): they learned nothing measurable, and findings resting on them are not evaluable.",
            "",
        ]
    # The paper's numbers are full-data ImageNet numbers: shown beside such studies only.
    paper = paper_numbers() if study.key.dataset == "imagenet" and study.key.target_per_class is None else None
    series_names = sorted({series for series, _ in study.cells}, key=lambda s: (not s.startswith("base"), s))
    ks = sorted({k for _, k in study.cells})
    lines += ["| series | " + " | ".join(f"k={k}" for k in ks) + " |", "|---" * (len(ks) + 1) + "|"]
    for series in series_names:
        row = [series]
        for k in ks:
            cell = study.cells.get((series, k))
            text = cell_text(cell, study.seeds)
            if cell and paper is not None and (value := paper_value(split, series, k, paper)) is not None:
                text += f" [paper {value:.4f}]"
            row.append(text)
        lines.append("| " + " | ".join(row) + " |")
    lines.append("")
    if study.outside:
        outside = ", ".join(f"{r['series']} seed {r.get('seed')} ({r['val_top1']:.4f})" for r in study.outside)
        lines += [
            f"Not in the cells, so that every cell compares the same seeds: base networks of seeds at which this "
            f"study trained nothing else (the reference base of a similarity run, or a grid still running): "
            f"{outside}.",
            "",
        ]
    if paper is not None:
        lines += ["Bracketed: the paper's top-1 for the same point (mean of its 10 best validations).", ""]
    if figure:
        lines += [f"![{study.name}]({figure}.png)", ""]
    if split == "random":
        lines += findings_markdown(study, natman, paths_root)
    failed = [r for r in study.runs if r.get("status") == "failed"]
    if failed:
        lines += ["### Failed runs", "", "| run | error |", "|---|---|"]
        lines += [
            f"| {r.get('series', '?')} k={r.get('k', '?')} ({r['run_dir']}) | {r.get('error', '')} |" for r in failed
        ]
        lines.append("")
    return lines


def boost_text(interval) -> str:
    return "" if interval is None else interval_text(interval).split(", n=")[0]


def findings_markdown(study: Study, natman: Study | None, paths_root: str | None) -> list[str]:
    lines = [
        "### Fine-tuned transfer boosts (the paper's Table 1)",
        "",
        "Mean over the layers of AnB+ minus base B and minus BnB+, paired over seeds, with its 95% interval "
        f"(n={study.runs_per_point[0]}; the paper: +1.6 to +2.1 pp over base B on ImageNet).",
        "",
        "| layers | AnB+ - base B | AnB+ - BnB+ |",
        "|---|---|---|",
    ]
    lines += [
        f"| {b['layers']} | {boost_text(b['over_base'])} | {boost_text(b['over_selffer'])} |" for b in boosts(study)
    ]
    checked = findings(study, natman)
    lines += [
        "",
        "### The paper's findings, checked on these numbers",
        "",
        "| finding | verdict | numbers |",
        "|---|---|---|",
    ]
    lines += [f"| {f.claim} | {f.verdict} | {f.numbers} |" for f in checked]
    lines.append("")
    if study.runs_per_point[0] < 2:  # the undecided findings' seeds are at least three: one command for both
        seeds = max([3, *(f.seeds_needed for f in checked if f.seeds_needed)])
        return lines + [
            "With 1 seed the verdicts are indicative only: neighbouring points of short runs move by several "
            f"pp between seeds. {seeds} seeds give each point a spread to judge by (finished runs are "
            "skipped):",
            "",
            f"    {seeds_command(study, paths_root, seeds)}",
            "",
        ]
    return lines + more_seeds_lines(study, checked, paths_root)


def more_seeds_lines(study: Study, checked: list[Finding], paths_root: str | None) -> list[str]:
    """The command that would decide the undecided findings (the most seeds any of them needs)."""
    needed = [f.seeds_needed for f in checked if f.seeds_needed]
    if not needed:
        return []
    return [
        f"Undecided findings: about {max(needed)} seeds would decide them if the estimates and spreads stayed as "
        "observed (a sample-size estimate, not a promise). The runs (finished ones are skipped):",
        "",
        f"    {seeds_command(study, paths_root, max(needed))}",
        "",
    ]


def scarcity_markdown(
    title: str, points: dict[str, list[ScarcityPoint]], figure: str, on_imagenet_all: bool
) -> list[str]:
    labels = list(points)
    # The paper's reduced-data runs (1000 classes, N images per class, 200k iterations) match scratch on all classes.
    reduced = paper_numbers() if on_imagenet_all else {}
    lines = [
        f"## Scarce targets: {title}",
        "",
        "Top-1 on the target's complete validation set against its training images per class "
        "(data.target_per_class; every N trains for as many steps as the full data). Transfers at the k "
        "whose mean is best at that N.",
        "",
        "| images per class | " + " | ".join(labels) + " | fine-tuned - scratch |",
        "|---" * (len(labels) + 2) + "|",
    ]
    per_class = sorted(
        {p.per_class for pts in points.values() for p in pts}, key=lambda n: math.inf if n is None else n
    )
    for n in per_class:
        at_n = {label: next((p for p in points[label] if p.per_class == n), None) for label in labels}
        cells = []
        for label, p in at_n.items():
            text = "" if p is None else cell_text(p.cell) + ("" if p.k is None else f", k={p.k}")
            if (
                p is not None
                and label == "scratch"
                and (value := reduced.get(("reduced", "images_per_class", n))) is not None
            ):
                text += f" [paper {value:.4f}]"
            cells.append(text)
        scratch, tuned = at_n["scratch"], at_n["fine-tuned, best k"]
        gain = pp(tuned.cell.mean - scratch.cell.mean) if scratch and tuned else ""
        lines.append(f"| {'all' if n is None else n} | " + " | ".join(cells) + f" | {gain} |")
    lines.append("")
    if reduced:
        lines += ["Bracketed: the paper's reduced-data runs (1000 classes, 200k iterations; 1 run each).", ""]
    return lines + [f"![scarce targets {title}]({figure}.png)", ""]
