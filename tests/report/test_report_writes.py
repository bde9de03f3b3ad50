"""The report's files are written atomically: a full disk during a rewrite leaves the previous report whole."""

import sys

import pytest
from conftest import run_under_file_limit
from report.test_report import paper_like_study, record

from transfer_lab.report import write_report


@pytest.mark.slow  # a subprocess importing torch and matplotlib
def test_a_full_disk_during_a_report_rewrite_leaves_the_previous_report_complete(tmp_path):
    runs, out = tmp_path / "runs", tmp_path / "report"
    paper_like_study(runs, seeds=(0, 1))
    write_report([runs], out)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    assert {"report.md", "results.csv", "summary.csv", "transfer.png", "transfer.pdf"} <= before.keys()
    record(runs, "bB2", "baseB", 0, 0.66, seed=2)  # a new run: the rewrite differs from the report on disk
    # ulimit -f 4: writes past 4 KiB fail with EFBIG, like a full disk; results.csv (~6 KiB) is written first.
    done = run_under_file_limit(4, f"{sys.executable} -m transfer_lab.report {runs} --out {out}")
    assert done.returncode == 1 and done.stderr.strip().count("\n") == 0, done.stderr[-2000:]  # one line
    assert "cannot write" in done.stderr and "File too large" in done.stderr and "is intact" in done.stderr
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before  # every file as it was, no temp file
