"""The study's report: `python -m transfer_lab.report DIR [DIR ...] [--out OUT] [--wandb PROJECT]`.

Collects every result.json (completed runs) and failed.json (failed runs) under the given folders
and writes into one folder (default: reports/<dataset>-<split>/ under the paths.root the first
folder belongs to, as a sweep does):
  results.csv        one row per run, every result field (failed runs with their error)
  summary.csv        mean, standard deviation, count, seeds and runs at chance of val top-1 per study, series and k
  transfer.png/.pdf  paper Figure 2 style (random split): top-1 vs k and relative to base B
  natman.png/.pdf    paper Figure 3 style (natural vs man-made), when such runs are present
  random_filters.png/.pdf  paper Figure 3 random-filters control (split=all), when such runs are present
  scarcity.png/.pdf  target top-1 vs training images per class (scratch, frozen and fine-tuned
                     transfer at their best k), when runs with data.target_per_class are present
  report.md          the tables, Table 1 style boosts of AnB+, the paper's findings checked against
                     the numbers (estimate, 95% interval, n, verdict: docs/statistics.md), the paper's
                     own numbers on ImageNet, and failed runs
A study is one training configuration (spec.StudyKey): runs that differ in any setting that changes
training are never averaged together, and studies of the same names are told apart by what differs
("recipe.batch_size=32"); seeds and split seeds of one study are pooled, as in the paper. Studies
that differ only in images per class form a scarcity family (one figure).

Modules: records (collecting, studies, cells), scarcity, words (studies in words), statistics
(intervals), findings (what the numbers say), figures, markdown, similarity.
"""

import argparse
import csv
import json
import os
import sys
from pathlib import Path

from transfer_lab.errors import ConfigError
from transfer_lab.io import DISK_ERRORS, write_csv_rows, write_text
from transfer_lab.report.figures import natman_figure, random_filters_figure, scarcity_figure, transfer_figure
from transfer_lab.report.markdown import header, scarcity_markdown, study_markdown
from transfer_lab.report.records import Study, collect, studies_of, summary_rows
from transfer_lab.report.scarcity import scarcity_families, scarcity_points
from transfer_lab.report.similarity import similarity_markdown
from transfer_lab.report.words import study_title
from transfer_lab.study_key import STUDY_KEYS, StudyKey

STUDY_COLUMNS = [*STUDY_KEYS, "study_settings"]
FIRST_COLUMNS = ["status", *STUDY_COLUMNS, "split_seed", "seed", "series", "k", "freeze", "val_top1", "val_top1_best"]
# The figure of each kind of split: its file name and how it is drawn.
FIGURES = {
    "random": ("transfer", transfer_figure),
    "natman": ("natman", natman_figure),
    "all": ("random_filters", random_filters_figure),
}


def write_csv(path: Path, rows: list[dict], first: list[str]) -> None:
    columns = [c for c in first if any(c in r for r in rows)]
    columns += sorted({key for r in rows for key in r} - set(columns))
    cells = [{key: json.dumps(v) if isinstance(v, (list, dict)) else v for key, v in r.items()} for r in rows]
    write_csv_rows(path, columns, cells)


def paths_root_of(folder: Path) -> Path:
    """The paths.root a runs folder belongs to: the parent of its `runs` folder (outputs/runs/x -> outputs)."""
    folder = Path(folder).absolute()
    for path in (folder, *folder.parents):
        if path.name == "runs":
            return path.parent
    return folder


def default_report_dir(folder: Path, records: list[dict]) -> Path:
    """Where a sweep writes the report of these runs: <paths.root>/reports/<dataset>-<split>."""
    datasets = sorted({str(r.get("dataset", "unknown")) for r in records})
    splits = sorted({str(r.get("split", "unknown")) for r in records})
    return paths_root_of(folder) / "reports" / f"{'+'.join(datasets)}-{'+'.join(splits)}"


def write_report(folders: list[Path], out: Path | None = None) -> Path:
    """Write the report of every run under `folders` into `out` (default_report_dir when None); returns report.md."""
    records = collect(folders)
    out = Path(out) if out is not None else default_report_dir(folders[0], records)
    out.mkdir(parents=True, exist_ok=True)
    studies = studies_of(records)
    keys = list(studies)
    write_csv(out / "results.csv", records, FIRST_COLUMNS)
    write_csv(
        out / "summary.csv",
        summary_rows(list(studies.values())),
        [*STUDY_COLUMNS, "differs", "series", "k", "mean", "std", "n", "seeds", "at_chance"],
    )
    figure_names = _figure_names(keys)
    root = paths_root_of(folders[0])
    paths_root = None if root == Path.cwd() / "outputs" else str(root)
    lines = header(list(studies.values()), _describe(folders))
    families = scarcity_families(keys)
    for family, members in families.items():
        figure = "scarcity" if len(families) == 1 else f"scarcity-{family.wandb_group}"
        points = scarcity_points([studies[key] for key in members])
        scarcity_figure(points, [studies[key] for key in members], out / figure)
        title = study_title(family, studies[members[0]].differs_words)
        lines += scarcity_markdown(title, points, figure, (family.dataset, family.split) == ("imagenet", "all"))
    for key in keys:
        natman = next(
            (studies[k] for k in keys if k.split == "natman" and twin(studies[k]) == twin(studies[key])), None
        )
        figure = figure_names.get(key)
        if figure:
            FIGURES[key.split][1](studies[key], out / figure)
        lines += study_markdown(studies[key], natman, figure, paths_root)
    lines += similarity_markdown(folders, studies, out)
    path = out / "report.md"
    write_text(path, "\n".join(lines) + "\n")
    return path


def _describe(folders: list[Path]) -> str:
    if len(folders) <= 3:
        return ", ".join(map(str, folders))
    return f"{len(folders)} run folders under {os.path.commonpath([str(Path(f).absolute()) for f in folders])}"


def twin(study: Study) -> tuple:
    """What a random-split study and its natman twin share: every name and setting but the split."""
    key, config = study.key, study.config
    settings = config and json.dumps({**config, "split": None}, sort_keys=True)
    return key.dataset, key.model, key.recipe, key.target_per_class, settings


def _figure_names(keys: list[StudyKey]) -> dict[StudyKey, str]:
    """transfer / natman / random_filters, with the study's name appended when several studies would share one."""
    names = {}
    for kind, (base, _) in FIGURES.items():
        of_kind = [key for key in keys if key.split == kind]
        for key in of_kind:
            names[key] = base if len(of_kind) == 1 else f"{base}-{key.wandb_group}"
    return names


def log_to_wandb(out: Path, project: str, group: str | None) -> None:
    """An analysis run holding the summary table and the figures."""
    import wandb  # here: wandb's import takes seconds, and only this optional step needs it

    with open(out / "summary.csv") as f:
        rows = list(csv.reader(f))
    run = wandb.init(
        project=project,
        group=group,
        job_type="analysis",
        name=f"report-{out.name}",
        dir=str(out),
        settings=wandb.Settings(silent=True, console="off"),
    )  # the sweep's last line names the report folder
    try:
        run.log({"summary": wandb.Table(columns=rows[0], data=rows[1:])})
        for figure in sorted(out.glob("*.png")):
            run.log({figure.stem: wandb.Image(str(figure))})
        run.save(str(out / "report.md"), base_path=str(out), policy="now")
    finally:
        run.finish()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m transfer_lab.report", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("folders", nargs="+", type=Path, help="folders holding runs (searched recursively)")
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="report folder (default: <paths.root>/reports/<dataset>-<split>, "
        "paths.root being where the first folder's runs/ is)",
    )
    parser.add_argument("--wandb", metavar="PROJECT", default=None, help="also log an analysis run to this W&B project")
    parser.add_argument("--group", default=None, help="W&B group of the analysis run")
    args = parser.parse_args(argv)
    try:
        path = write_report(args.folders, args.out)
    except ConfigError as err:
        print(f"transfer_lab.report: error: {err}", file=sys.stderr)
        sys.exit(2)
    except OSError as err:
        if err.errno not in DISK_ERRORS:
            raise
        print(
            f"transfer_lab.report: error: cannot write {err.filename or 'the report'}: {err.strerror}. The report "
            f"written before is intact (every file is replaced whole); free some space or choose another --out, "
            f"and run the same command again",
            file=sys.stderr,
        )
        sys.exit(1)
    if args.wandb:
        log_to_wandb(path.parent, args.wandb, args.group)
    print(f"report: {path}")
