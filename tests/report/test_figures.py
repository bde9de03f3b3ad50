"""The report's figures, read from what was drawn (the matplotlib figure objects): one line per series,
error bars and one dot per run where a point has several runs (none with one), and the paper's curves
on ImageNet only. What the bars mean (std, CI) is report/figures.py's; these tests check that they are there."""

import csv
from pathlib import Path

import pytest
from matplotlib.collections import PathCollection
from matplotlib.container import ErrorbarContainer
from report.test_report import paper_like_study

from transfer_lab.report import figures, write_report

SERIES = ("BnB", "BnB+", "AnB", "AnB+")
IMAGENET = {"dataset": "imagenet", "model": "alexnet", "recipe": "paper"}


@pytest.fixture
def drawn(monkeypatch) -> dict:
    """{file name: matplotlib Figure} of every figure the report saves."""
    saved = {}
    monkeypatch.setattr(figures, "save_figure_file", lambda fig, path, **kwargs: saved.setdefault(Path(path).stem, fig))
    return saved


def paper_values() -> set[float]:
    """The paper's ImageNet numbers (transfer_lab/data/paper_results.csv), in %."""
    path = Path(figures.__file__).parents[1] / "data" / "paper_results.csv"
    rows = csv.DictReader(line for line in path.read_text().splitlines() if not line.startswith("#"))
    return {round(100 * float(row["top1"]), 6) for row in rows if row["experiment"] == "random"}


def top_panel(fig):
    return fig.axes[0]


def series_lines(ax) -> list:
    """The lines of one point per k = 1..7 (the error bars' caps, lines too, left out)."""
    caps = {id(cap) for c in ax.containers if isinstance(c, ErrorbarContainer) for cap in c.lines[1]}
    return [line for line in ax.lines if len(line.get_xdata()) == 7 and id(line) not in caps]


def runs_of(folder: Path) -> int:
    return len(list(folder.rglob("result.json")))


@pytest.mark.parametrize("seeds", [(0, 1), (0, 1, 2)])
def test_each_series_is_a_line_with_a_bar_and_a_dot_per_run_at_every_point(tmp_path, drawn, seeds):
    paper_like_study(tmp_path / "runs", seeds=seeds)
    write_report([tmp_path / "runs"], tmp_path / "report")
    ax = top_panel(drawn["transfer"])
    lines = series_lines(ax)
    assert len(lines) == len(SERIES)
    anb = next(line for line in lines if line.get_ydata()[0] > line.get_ydata()[-1] + 5)  # AnB falls with k
    shift = 100 * 0.002 * sum(seeds) / len(seeds)  # seed s adds s * 0.2 pp
    assert list(anb.get_ydata()) == pytest.approx([100 * (0.66 - 0.02 * k) + shift for k in range(7)])
    bars = [c for c in ax.containers if isinstance(c, ErrorbarContainer)]
    assert sum(len(c.lines[2][0].get_segments()) for c in bars) == 1 + 7 * len(SERIES)  # base B + 7 points per series
    dots = sum(len(c.get_offsets()) for c in ax.collections if isinstance(c, PathCollection))
    assert dots == runs_of(tmp_path / "runs") - len(seeds)  # every run but base A's (not drawn) is a dot


def test_one_run_per_point_draws_no_bars_and_no_dots(tmp_path, drawn):
    paper_like_study(tmp_path / "runs", seeds=(0,))
    write_report([tmp_path / "runs"], tmp_path / "report")
    ax = top_panel(drawn["transfer"])
    assert len(series_lines(ax)) == len(SERIES)
    assert not [c for c in ax.containers if isinstance(c, ErrorbarContainer)]
    assert not [c for c in ax.collections if isinstance(c, PathCollection)]


def test_the_papers_curves_are_drawn_on_imagenet_only(tmp_path, drawn):
    paper_like_study(tmp_path / "animalfashion", seeds=(0,))
    for run in (tmp_path / "animalfashion").glob("*/result.json"):  # the same runs, as an ImageNet study
        copy = tmp_path / "imagenet" / run.parent.name / "result.json"
        copy.parent.mkdir(parents=True)
        copy.write_text(
            run.read_text()
            .replace('"animalfashion"', '"imagenet"')
            .replace('"alexnet_small"', '"alexnet"')
            .replace('"embedded"', '"paper"')
        )
    write_report([tmp_path / "animalfashion"], tmp_path / "report-animalfashion")
    ours = {tuple(line.get_ydata()) for line in top_panel(drawn.pop("transfer")).lines}
    write_report([tmp_path / "imagenet"], tmp_path / "report-imagenet")
    on_imagenet = [line for line in top_panel(drawn["transfer"]).lines if tuple(line.get_ydata()) not in ours]
    assert len(on_imagenet) >= len(SERIES)  # a paper curve behind each series (and base B's point)
    paper = paper_values()
    for line in on_imagenet:
        assert all(round(float(y), 6) in paper for y in line.get_ydata()), line.get_ydata()
    assert not paper & {
        round(float(y), 6)
        for line in top_panel(drawn["transfer"]).lines
        if line not in on_imagenet
        for y in line.get_ydata()
    }
