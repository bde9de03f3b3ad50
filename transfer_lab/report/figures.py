"""The report's figures, in the style of the paper's Figures 2 and 3: top-1 in % (differences in pp),
the mean of each point joined by a line; with several seeds, ±1 std bars (sample std over the seeds, n in
the subtitle) and one small dot per run. The findings' 95% intervals are of paired differences: report.md.
Each is saved as PNG (for reading) and PDF (vector, for a paper)."""

import textwrap
from pathlib import Path

from transfer_lab.io import save_figure_file
from transfer_lab.report.findings import paper_numbers, paper_value
from transfer_lab.report.records import Cell, Study, at_chance
from transfer_lab.report.scarcity import ScarcityPoint
from transfer_lab.report.words import runs_words, schedule_words, study_title

PERCENT = 100
STYLE = {  # colour, marker, filled
    "BnB": ("tab:blue", "o", False),
    "BnB+": ("tab:blue", "o", True),
    "AnB": ("tab:red", "D", False),
    "AnB+": ("tab:red", "D", True),
    "AnB (man-made -> natural)": ("tab:green", "s", True),
    "BnA (natural -> man-made)": ("tab:purple", "^", True),
    "random filters, frozen": ("tab:orange", "v", True),
    "scratch": ("tab:gray", "s", True),
    "base B": ("black", "s", True),
    "frozen, best k": ("tab:red", "D", False),
    "fine-tuned, best k": ("tab:red", "D", True),
    "probeAnB": ("tab:green", "^", True),  # report/similarity.py
}
RANDOM_SERIES = {
    "BnB": "BnB: selffer, frozen",
    "BnB+": "BnB+: selffer, fine-tuned",
    "AnB": "AnB: transfer, frozen",
    "AnB+": "AnB+: transfer, fine-tuned",
}
# Side by side at each k, so that the dots of different series do not hide each other.
OFFSET = {"BnB": -0.15, "BnB+": -0.05, "AnB": 0.05, "AnB+": 0.15}
PAPER_GREY = "0.75"
RUN_DOTS = "small dots: one run each; bars: mean ± 1 std over the seeds (n: above the plot)"


def _pyplot():
    import matplotlib  # here: matplotlib loads only when a figure is drawn (the sweeper imports the report)

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # after use("Agg"): no display needed

    return plt


def new_figure(rows: int = 1, height: float = 5.0):
    plt = _pyplot()
    ratios = {"height_ratios": [3, 2]} if rows == 2 else None
    fig, axes = plt.subplots(rows, 1, figsize=(8, height), sharex=True, gridspec_kw=ratios, layout="constrained")
    return fig, axes


def save_figure(fig, path: Path, title: str, study: str, detail: str, legend_axes) -> None:
    """Title (what is plotted, then the study in words), subtitle (seeds, training length, what is
    measured), legend below the plot."""
    from matplotlib.lines import Line2D  # here, as _pyplot: matplotlib loads only when a figure is drawn

    fig.suptitle("\n".join([title, *textwrap.wrap(study, 95)]), fontsize=11)
    handles, labels = legend_axes.get_legend_handles_labels()
    if legend_axes.collections:  # run dots were drawn: one legend entry says what dots and bars are
        handles.append(Line2D([], [], color="0.4", marker="o", markersize=3, linestyle="none", alpha=0.6))
        labels.append(RUN_DOTS)
    legend_axes.set_title(detail, fontsize=9, color="0.3")
    fig.legend(handles, labels, loc="outside lower center", ncol=2, fontsize=8, frameon=False)
    save_figure_file(fig, path.with_suffix(".png"), dpi=130, bbox_inches="tight")
    save_figure_file(fig, path.with_suffix(".pdf"), bbox_inches="tight")
    _pyplot().close(fig)


def draw(
    ax, cells: dict[float, Cell], label: str, legend: str | None = None, offset: float = 0.0, minus: float = 0.0
) -> None:
    """One series, shifted by `offset` on x: the mean of each point on a line; with several runs per point,
    ±1 std bars and a dot per run."""
    color, marker, filled = STYLE[label]
    xs = sorted(cells)
    ax.plot(
        [x + offset for x in xs],
        [PERCENT * (cells[x].mean - minus) for x in xs],
        color=color,
        linestyle="-" if filled else "--",
        marker=marker,
        markersize=6,
        markerfacecolor=color if filled else "white",
        label=legend or label,
        zorder=3,
    )
    several = [x for x in xs if cells[x].n > 1]
    if not several:
        return
    ax.errorbar(
        [x + offset for x in several],
        [PERCENT * (cells[x].mean - minus) for x in several],
        yerr=[PERCENT * cells[x].std for x in several],
        fmt="none",
        ecolor=color,
        elinewidth=1,
        capsize=2,
        zorder=2,
    )
    dots = [(x + offset, PERCENT * (value - minus)) for x in several for value in cells[x].values.values()]
    ax.scatter(*zip(*dots), s=9, color=color, alpha=0.45, linewidths=0, zorder=4)


def chance_level(study: Study) -> float | None:
    """1/classes, when a run of the study is at chance (worth showing how close the rest are)."""
    flagged = [r for r in study.runs if r.get("status") == "completed" and at_chance(r)]
    return 1 / flagged[0]["n_classes"] if flagged else None


def series_cells(study: Study, series: str) -> dict[float, Cell]:
    return study.series(series)


def paper_line(ax, split: str, series: str, ks, label: str | None, minus: float = 0.0) -> None:
    """The paper's numbers for the same curve on ImageNet, in light grey behind ours."""
    paper = paper_numbers()
    points = [(k, value) for k in ks if (value := paper_value(split, series, k, paper)) is not None]
    if points:
        _, marker, filled = STYLE.get(series, (None, "o", True))
        ax.plot(
            [k for k, _ in points],
            [PERCENT * (v - minus) for _, v in points],
            color=PAPER_GREY,
            marker=marker,
            markersize=4,
            linewidth=1,
            linestyle="-" if filled else "--",
            label=label,
            zorder=1,
        )


def on_imagenet(study: Study) -> bool:
    """The paper's numbers are full-data ImageNet numbers: drawn beside such studies only."""
    return study.key.dataset == "imagenet" and study.key.target_per_class is None


def _detail(study: Study, measured: str) -> str:
    return f"{runs_words(study)} · {schedule_words(study.runs)} · {measured}"


def transfer_figure(study: Study, path: Path) -> None:
    """Paper Figure 2: top-1 vs layers copied for the four series, and each minus base B."""
    fig, (top, bottom) = new_figure(rows=2, height=8.0)
    base = study.cells.get(("baseB", 0))
    paper = on_imagenet(study)
    for panel, minus in ((top, 0.0), (bottom, base.mean if base else None)):
        if minus is None:
            continue
        if base is not None:
            level = PERCENT * (base.mean - minus)
            panel.axhline(level, color="black", linewidth=1, linestyle=":")
            draw(panel, {0: base}, "base B", "base B: trained from scratch on B (k=0; dotted: its level)", minus=minus)
            if base.n > 1:
                panel.axhspan(
                    level - PERCENT * base.std,
                    level + PERCENT * base.std,
                    color="0.9",
                    zorder=0,
                    label=f"base B ± 1 std over its {base.n} seeds",
                )
        for series, legend in RANDOM_SERIES.items():
            draw(panel, series_cells(study, series), series, legend, OFFSET[series], minus)
            if paper:
                paper_line(panel, "random", series, range(1, 8), None, minus)
        if paper:
            paper_line(panel, "random", "baseB", [0], "paper, ImageNet (Yosinski et al. 2014, Fig. 2; grey)", minus)
    chance = chance_level(study)
    if chance is not None:
        top.axhline(PERCENT * chance, color="0.5", linewidth=1, linestyle="--", label="chance: 1/classes of half B")
    top.set_ylabel("top-1 on half B (%)")
    bottom.set_ylabel("minus base B (pp)")
    bottom.set_xlabel("layers copied from the base network, k (0 = base network)")
    bottom.set_xticks(range(8))
    save_figure(
        fig,
        path,
        "Transfer vs layers copied",
        study_title(study.key, study.differs_words),
        _detail(study, "final validation top-1 on half B"),
        top,
    )


def natman_figure(study: Study, path: Path) -> None:
    """Paper Figure 3 (top): frozen transfer between the man-made and the natural half."""
    fig, ax = new_figure()
    for series, target, label in (("AnB", "B", "AnB (man-made -> natural)"), ("BnA", "A", "BnA (natural -> man-made)")):
        cells = series_cells(study, series) | (
            {0: study.cells[(f"base{target}", 0)]} if (f"base{target}", 0) in study.cells else {}
        )
        if cells:
            draw(ax, cells, label)
            if on_imagenet(study):
                paper_label = "paper, ImageNet (Fig. 3; grey)" if series == "AnB" else None
                paper_line(ax, "natman", series, range(1, 8), paper_label)
    ax.set_xticks(range(8))
    ax.set_xlabel("layers copied and frozen, k (0 = base network of the target half)")
    ax.set_ylabel("top-1 on the target half (%)")
    save_figure(
        fig,
        path,
        "Natural vs man-made, frozen transfer",
        study_title(study.key, study.differs_words),
        _detail(study, "final validation top-1 on the target half"),
        ax,
    )


def random_filters_figure(study: Study, path: Path) -> None:
    """Paper Figure 3's control: top-1 vs k random frozen layers, the normal network at k=0."""
    fig, ax = new_figure()
    cells = series_cells(study, "randomA") | ({0: study.cells[("baseA", 0)]} if ("baseA", 0) in study.cells else {})
    draw(ax, cells, "random filters, frozen", "layers 1..k random and frozen (k=0: normal network)")
    if on_imagenet(study):
        paper_line(ax, "all", "baseA", [0], None)
        paper_line(ax, "all", "randomA", range(1, 8), "paper, ImageNet 1000 classes (Fig. 3; grey)")
    ax.set_xticks(range(8))
    ax.set_xlabel("random frozen layers k (0 = normal network, all layers trained)")
    ax.set_ylabel("top-1 on all classes (%)")
    save_figure(
        fig,
        path,
        "Random filters",
        study_title(study.key, study.differs_words),
        _detail(study, "final validation top-1"),
        ax,
    )


def scarcity_figure(points: dict[str, list[ScarcityPoint]], members: list[Study], path: Path) -> None:
    """Target top-1 vs images per class (log axis), the best k written beside each transfer point."""
    plt = _pyplot()
    fig, ax = new_figure()
    for label, series_points in points.items():
        drawn = [p for p in series_points if p.x is not None]
        if not drawn:
            continue
        color, _, filled = STYLE[label]
        draw(ax, {p.x: p.cell for p in drawn}, label)
        for p in drawn:
            if p.k is not None:
                ax.annotate(
                    f"k={p.k}",
                    (p.x, PERCENT * p.cell.mean),
                    textcoords="offset points",
                    xytext=(5, 6 if filled else -12),
                    fontsize=7,
                    color=color,
                )
    ticks = sorted({(p.x, p.per_class) for pts in points.values() for p in pts if p.x is not None}, key=lambda t: t[0])
    ax.set_xscale("log")
    ax.set_xticks([x for x, _ in ticks], [f"all\n({x:.0f})" if n is None else str(n) for x, n in ticks])
    ax.xaxis.set_minor_locator(plt.NullLocator())
    ax.set_xlabel("training images per class of the target (log)")
    ax.set_ylabel("top-1 on the target (%)")
    family = study_title(members[0].key.family, members[0].differs_words)
    save_figure(fig, path, "Scarce targets", family, _detail(members[-1], "final validation top-1 on the target"), ax)
