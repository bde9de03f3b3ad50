"""The report's inputs: run records collected from folders, grouped into studies (spec.StudyKey), and
each study's cells: the runs of one series and k, by seed."""

import json
import math
import statistics
from collections import defaultdict
from dataclasses import dataclass, replace
from pathlib import Path

from transfer_lab.errors import ConfigError
from transfer_lab.run.record import FAILED_FILE, RESULT_FILE, SIMILARITY_FILE
from transfer_lab.spec import RunSpec
from transfer_lab.study_key import StudyKey

# A run is at chance when its top-1 is within this many binomial standard deviations of 1/classes.
CHANCE_SIGMAS = 3
Seed = tuple[int, int]  # (split seed, seed): runs with the same pair share their split and base networks


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
                raise ConfigError(
                    f"{path} is not a readable JSON result ({err}): delete it to have the run redone, then report again"
                ) from err
            record.setdefault("run_dir", str(path.parent))
            records.append(record)
    if not records and not any(
        next(Path(folder).rglob(SIMILARITY_FILE), None) for folder in folders
    ):  # report/similarity.py reads those
        raise ConfigError(
            f"no runs (result.json, failed.json or {SIMILARITY_FILE}) under {', '.join(map(str, folders))}: "
            "run the study first"
        )
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


def seed_of(record: dict) -> Seed:
    return record.get("split_seed", 0), record.get("seed", 0)


def run_of_study(record: dict, study_config: dict) -> bool:
    """Whether a record stored without its study's settings is a run of `study_config`: its config hash
    rebuilt from the record's own network and seeds and these settings (kind options unknown: False)."""
    try:
        spec = RunSpec(
            kind=record["exp"],
            target=record["target"],
            source=record["source"],
            k=record["k"],
            freeze=record["freeze"],
            seed=record["seed"],
            auto_base=False,
            data={**study_config["data"], "target_per_class": record.get("target_per_class")},
            split={**study_config["split"], "seed": record["split_seed"]},
            model=study_config["model"],
            recipe=study_config["recipe"],
        )
    except KeyError:
        return False
    return spec.config_hash == record.get("config_hash")


def study_keys(records: list[dict]) -> list[StudyKey]:
    """The study of each record. One stored before records held their study's settings joins the study of
    the same names whose settings rebuild its config hash; with none, the study of its names alone."""
    keys = [StudyKey.of_record(r) for r in records]
    configs = {key: r["study_config"] for key, r in zip(keys, records) if key.settings and "study_config" in r}
    for i, (key, record) in enumerate(zip(keys, records)):
        if key.settings is None:
            keys[i] = next(
                (
                    known
                    for known, config in configs.items()
                    if replace(known, settings=None) == key and run_of_study(record, config)
                ),
                key,
            )
    return keys


def study_configs(records: list[dict]) -> dict[StudyKey, dict]:
    return {StudyKey.of_record(r): r["study_config"] for r in records if "study_config" in r}


def flat(tree: dict, prefix: str = "") -> dict[str, object]:
    """{"recipe": {"batch_size": 32}} -> {"recipe.batch_size": 32}: a setting as an override names it."""
    out = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            out |= flat(value, f"{prefix}{key}.")
        else:
            out[f"{prefix}{key}"] = value
    return out


# What sets apart runs stored before records held their settings from studies of the same names that have them.
NOT_RECORDED = {"settings": "not recorded"}


def differences(keys: list[StudyKey], configs: dict[StudyKey, dict]) -> dict[StudyKey, dict]:
    """What sets apart studies of the same names: {"recipe.batch_size": 32} ({} when alone; NOT_RECORDED for
    runs stored before records held their settings, beside studies that have them)."""
    named = defaultdict(list)
    for key in keys:
        named[replace(key, settings=None)].append(key)
    differs = {}
    for group in named.values():
        settings = {key: flat(configs[key]) for key in group if key in configs}
        names = sorted(
            {
                name
                for one in settings.values()
                for name in one
                if len({json.dumps(s.get(name), sort_keys=True) for s in settings.values()}) > 1
            }
        )
        for key in group:
            if len(group) == 1:
                differs[key] = {}
            else:
                differs[key] = {name: settings[key].get(name) for name in names} if key in settings else NOT_RECORDED
    return differs


def study_order(key: StudyKey) -> tuple:
    """Studies by name, the images-per-class of a family ascending and "all" (None) last."""
    return (key.family.name, key.settings or "", math.inf if key.target_per_class is None else key.target_per_class)


@dataclass
class Cell:
    """The completed runs of one series and k of a study, by seed."""

    series: str
    k: int
    runs: dict[Seed, dict]

    @property
    def values(self) -> dict[Seed, float]:
        return {seed: r["val_top1"] for seed, r in sorted(self.runs.items())}

    @property
    def mean(self) -> float:
        return statistics.fmean(self.values.values())

    @property
    def std(self) -> float | None:
        return statistics.stdev(self.values.values()) if self.n > 1 else None

    @property
    def n(self) -> int:
        return len(self.runs)

    @property
    def at_chance(self) -> int:
        return sum(map(at_chance, self.runs.values()))


class Study:
    """The runs of one study. Its seeds are those at which it trained a network other than a base (all, when it
    has bases only): a base trained for another seed's run, such as the reference base B of a similarity run
    at seed + 1, is listed apart (`outside`) and joins no cell, so that every cell compares the same seeds."""

    def __init__(self, key: StudyKey, runs: list[dict], differs: dict | None = None, config: dict | None = None):
        self.key, self.runs, self.config = key, runs, config  # config: RunSpec.study_config (None: not recorded)
        self.differs = differs or {}
        done = completed(runs)
        beyond_bases = {seed_of(r) for r in done if not str(r.get("series", "")).startswith("base")}
        self.seeds = sorted(beyond_bases or {seed_of(r) for r in done})
        self.outside = [r for r in done if seed_of(r) not in self.seeds]
        by_point = defaultdict(dict)
        for r in done:
            if seed_of(r) in self.seeds:
                by_point[(r["series"], r["k"])][seed_of(r)] = r
        order = sorted(by_point, key=lambda point: (not point[0].startswith("base"), point[0], point[1]))
        self.cells = {point: Cell(*point, by_point[point]) for point in order}

    @property
    def overrides(self) -> list[str]:
        """What sets the study apart from others of the same names in the report, as overrides:
        ["recipe.batch_size=32"]."""
        if self.differs is NOT_RECORDED:
            return []
        return [
            f"{name}={value if isinstance(value, str) else json.dumps(value)}" for name, value in self.differs.items()
        ]

    @property
    def differs_words(self) -> str:
        return "settings not recorded" if self.differs is NOT_RECORDED else ", ".join(self.overrides)

    @property
    def name(self) -> str:
        """The report's heading: the study's names, and what sets it apart from studies of the same names."""
        return self.key.name + (f" ({self.differs_words})" if self.differs_words else "")

    @property
    def runs_per_point(self) -> tuple[int, int]:
        """The fewest and most runs behind one point."""
        counts = [cell.n for cell in self.cells.values()] or [0]
        return min(counts), max(counts)

    def series(self, name: str) -> dict[int, Cell]:
        return {k: cell for (series, k), cell in self.cells.items() if series == name}

    def base(self, half: str) -> Cell | None:
        return self.cells.get((f"base{half}", 0))


def studies_of(records: list[dict]) -> dict[StudyKey, Study]:
    """The records' studies in report order, each named by what sets it apart from those of the same names."""
    runs = defaultdict(list)
    for key, record in zip(study_keys(records), records):
        runs[key].append(record)
    keys = sorted(runs, key=study_order)
    configs = study_configs(records)
    differs = differences(keys, configs)
    return {key: Study(key, runs[key], differs[key], configs.get(key)) for key in keys}


def summary_rows(all_studies: list[Study]) -> list[dict]:
    """summary.csv: mean, std (None for one run), count, seeds and runs at chance of final top-1 per cell."""
    return [
        {
            **study.key.record_fields(),
            "differs": study.differs_words,
            "series": cell.series,
            "k": cell.k,
            "mean": cell.mean,
            "std": cell.std,
            "n": cell.n,
            "at_chance": cell.at_chance,
            "seeds": [list(seed) for seed in cell.values],
        }
        for study in all_studies
        for cell in study.cells.values()
    ]
