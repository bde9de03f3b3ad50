"""The records a run leaves in its folder (their files: layout.py). Every record carries the run's
study (study_key.StudyKey) and its settings (RunSpec.study_config), so the report needs nothing else.
"""

import time
import traceback
from pathlib import Path

from transfer_lab.errors import ConfigError
from transfer_lab.io import read_json, write_json
from transfer_lab.kinds import KINDS, kind_of
from transfer_lab.layout import FAILED_FILE, RESULT_FILE, SIMILARITY_FILE  # noqa: F401 (the report reads them here)
from transfer_lab.spec import RunSpec

# The files whose presence means a run completed, one per kind of record.
RECORD_FILES = tuple(dict.fromkeys(kind.record_file for kind in KINDS.values()))


def record_file(spec: RunSpec) -> str:
    """The file whose presence means the run completed."""
    return kind_of(spec).record_file


def completed_result(spec: RunSpec, run_dir: Path) -> dict | None:
    """The result record in run_dir if it belongs to this exact config; never overwrite another."""
    path = Path(run_dir) / record_file(spec)
    if not path.exists():
        return None
    try:
        result = read_json(path)
    except ValueError as err:
        raise ConfigError(
            f"{path} is not valid JSON: delete it to have the run redone (from its last checkpoint)"
        ) from err
    if result.get("config_hash") != spec.config_hash:
        raise ConfigError(f"{path} holds a completed run of another config: use another run directory or paths.root")
    return result


def run_fields(spec: RunSpec) -> dict:
    """What every record of a run says about it: its study, which network it is, its seeds and hash."""
    return {
        **spec.study.record_fields(),
        "study_config": spec.study_config,  # the report names studies by what differs
        "exp": spec.kind,
        "series": spec.series,
        "source": spec.source,
        "target": spec.target,
        "split_seed": spec.split["seed"],
        "k": spec.k,
        "freeze": spec.freeze,
        "seed": spec.seed,
        "config_hash": spec.config_hash,
    }


def completed_record(spec: RunSpec, run_dir: Path, started_at: float, where: dict, **fields) -> dict:
    """The record of a completed run: what it was (run_fields), its kind's own `fields`, when it ran,
    where (devices.device_fields) and its status."""
    return {
        **run_fields(spec),
        **fields,
        "started_at": started_at,
        "finished_at": time.time(),
        **where,
        "run_dir": str(run_dir),
        "status": "completed",
    }


def done_line(spec: RunSpec, run_dir: Path, result: dict) -> str:
    """What a run found completed says instead of training."""
    return f"already done: {Path(run_dir) / record_file(spec)} ({outcome(result)})"


def outcome(result: dict) -> str:
    """A run's number(s) in a few words: top-1 of a trained network or probe, CKA by layer of a similarity run."""
    if "cka" in result:
        return "CKA(A,B) layers 1-8: " + " ".join(f"{value:.2f}" for value in result["cka"])
    return f"top-1 {result['val_top1']:.4f}"


def record_failure(spec: RunSpec, run_dir: Path, err: BaseException) -> None:
    """failed.json: the error and the run's study, so that the report lists it with its study."""
    write_json(
        Path(run_dir) / FAILED_FILE,
        {
            **run_fields(spec),
            "status": "failed",
            "error": f"{type(err).__name__}: {err}",
            "traceback": traceback.format_exc(),
            **getattr(err, "record", {}),  # e.g. a diverged run's step, last finite loss and fixes to try
        },
    )


def split_record(split, class_names: list[str], target: str) -> dict:
    return {
        "split": split.name,
        "split_seed": split.seed,
        "target": target,
        "halves": {
            half: {"classes": list(classes), "names": [class_names[c] for c in classes]}
            for half, classes in split.halves.items()
        },
        "label_order": "within a half, label i is the half's i-th class in ascending original index",
    }
