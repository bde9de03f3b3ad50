"""Where everything lives on disk: the one place that names the folders and files the project writes.

<paths.root>/ (default outputs/)
  runs/<run name>/    one folder per run (RunSpec.run_name): its record files, checkpoints/last.ckpt, logs
  bases/<series>-<hash>/  the base-network store (run/store.py): base.pt, base.json
  sweeps/             one manifest per sweep (sweep/sweeper.py) and its measured times
  reports/            the reports a sweep writes (conf/config.yaml report_dir)

In a run folder:
  split.json    the classes of halves A and B and the label order used
  result.json   the result record, written last and atomically: its presence means the run completed
  similarity.json  instead of result.json for a similarity run (+exp=similarity), which trains no network
  failed.json   the record of a run that failed: its error, with the study it belongs to
  running.json  who is training the run now (the owner of its claim, run/claim.py)
  run.lock      the claim's lock file
"""

from pathlib import Path

DEFAULT_ROOT = "outputs"
RUNS = "runs"
BASES = "bases"
SWEEPS = "sweeps"
REPORTS = "reports"
CHECKPOINTS = "checkpoints"
LAST_CHECKPOINT = "last.ckpt"

SPLIT_FILE = "split.json"
RESULT_FILE = "result.json"
SIMILARITY_FILE = "similarity.json"
FAILED_FILE = "failed.json"
RUNNING_FILE = "running.json"
LOCK_FILE = "run.lock"


def run_folder(root: str | Path, run_name: str) -> Path:
    """A run's folder (RunSpec.run_name) under paths.root."""
    return Path(root) / RUNS / run_name


def checkpoint_dir(run_dir: str | Path) -> Path:
    return Path(run_dir) / CHECKPOINTS


def last_checkpoint(run_dir: str | Path) -> Path:
    """The checkpoint a re-run of the same command resumes from."""
    return checkpoint_dir(run_dir) / LAST_CHECKPOINT
