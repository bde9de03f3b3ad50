"""What the CLI prints, each command in a new interpreter as a user starts it: quiet by default (one line per
sweep job, one closing line for a single run), Lightning's notices with verbose=true; and the report of a runs
folder where the README says."""

import os
import re
import subprocess
import sys
from pathlib import Path

from conftest import ONE_WORKER, only

LIGHTNING_NOTICES = (
    "GPU available",
    "TPU available",
    "Tip:",
    "limit_val_batches",
    "_pytree",
    "Trainer.fit` stopped",
    "[HYDRA]",
)
JOB_LINE = re.compile(
    r"^(baseA|AnB_k1): top-1 [01]\.\d{4}, \d+ s \| \d done, 0 failed, \d left(; about \d+m\d\ds left)?$"
)


def with_umask(mask: int, call):
    """Run `call` with the process umask set to `mask` (children inherit it)."""
    previous = os.umask(mask)
    try:
        return call()
    finally:
        os.umask(previous)


def test_a_sweep_prints_one_line_per_job_and_ends_with_the_report_path(cli, root, tmp_path):
    done = with_umask(0o022, lambda: cli("-m", "+exp=grid", "run=baseA,AnB_k1", ONE_WORKER, root=root, fresh=True))
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stderr.strip().splitlines()
    assert not [
        line for line in (done.stdout + done.stderr).splitlines() if any(n in line for n in LIGHTNING_NOTICES)
    ], done.stderr
    assert lines[0].startswith("sweep of 2 jobs")
    assert sorted(line.split(":")[0] for line in lines if JOB_LINE.match(line)) == ["AnB_k1", "baseA"], done.stderr
    assert len(lines) <= 6, done.stderr  # start, "training baseA", AnB_k1 "waiting for baseA", two jobs, the end
    report = root.absolute() / "reports" / "animalfashion-random" / "report.md"
    assert lines[-1] == f"sweep finished: 2 done, 0 failed, 0 left; report: {report}"
    # Files follow the umask (0644 under 022), also those written atomically through a temporary file.
    for path in (
        only("runs/*/*/AnB_k1/*/result.json", root),
        only("runs/*/*/AnB_k1/*/split.json", root),
        only("sweeps/*[0-9a-f].json", root),
        report,
    ):
        assert path.stat().st_mode & 0o777 == 0o644, path

    # The report of a runs folder goes where the sweep put it, under the same paths.root.
    report.unlink()
    again = subprocess.run(
        [sys.executable, "-m", "transfer_lab.report", str(root / "runs" / "animalfashion")],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert again.returncode == 0, again.stderr[-3000:]
    assert again.stdout.strip() == f"report: {report}" and report.exists()


def test_a_single_run_ends_with_one_line_and_verbose_shows_lightning(cli, root):
    quiet = cli("+exp=base", "half=A", root=root, fresh=True)
    assert quiet.returncode == 0, quiet.stderr[-3000:]
    result = only("runs/*/*/baseA/*/result.json", root)
    assert (
        quiet.stderr.strip().splitlines()[-1]
        == f"baseA: top-1 {_top1(result)} ({_threads(os.cpu_count())}); {result.absolute()}"
    )
    assert not any(notice in quiet.stdout + quiet.stderr for notice in LIGHTNING_NOTICES)

    verbose = cli("+exp=anb", "k=1", "verbose=true", root=root, fresh=True)
    assert verbose.returncode == 0, verbose.stderr[-3000:]
    assert "GPU available" in verbose.stdout + verbose.stderr  # Hydra logs to stdout
    assert re.search(
        r"^AnB k=1: top-1 [01]\.\d{4} \(\d+ CPU threads?\); .*/result\.json$", verbose.stderr.strip().splitlines()[-1]
    )


def _threads(count: int) -> str:
    return "1 CPU thread" if count == 1 else f"{count} CPU threads"


def _top1(result: Path) -> str:
    import json

    return f"{json.loads(result.read_text())['val_top1']:.4f}"
