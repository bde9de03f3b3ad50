"""What a run leaves in its folder, and the one place that names those files.

  split.json    the classes of halves A and B and the label order used
  result.json   the result record, written last and atomically: its presence means the run completed
  similarity.json  instead of result.json for a similarity run (+exp=similarity), which trains no network
  failed.json   the record of a run that failed: its error, with the study it belongs to
  running.json  who is training the run now (the owner of its claim, run/claim.py)
  run.lock      the claim's lock file
Every record carries the run's study (spec.StudyKey) and its settings (RunSpec.study_config), so the
report needs nothing else.
"""

import traceback
from pathlib import Path

from transfer_lab.errors import ConfigError
from transfer_lab.io import read_json, write_json
from transfer_lab.spec import RunSpec

SPLIT_FILE = "split.json"
RESULT_FILE = "result.json"
SIMILARITY_FILE = "similarity.json"
FAILED_FILE = "failed.json"
RUNNING_FILE = "running.json"
LOCK_FILE = "run.lock"


def record_file(spec: RunSpec) -> str:
    """The file whose presence means the run completed."""
    return SIMILARITY_FILE if spec.kind == "similarity" else RESULT_FILE


def completed_result(spec: RunSpec, run_dir: Path) -> dict | None:
    """The result record in run_dir if it belongs to this exact config; never overwrite another."""
    path = Path(run_dir) / record_file(spec)
    if not path.exists():
        return None
    try:
        result = read_json(path)
    except ValueError as err:
        raise ConfigError(f"{path} is not valid JSON: delete it to have the run redone (from its last checkpoint)") from err
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
