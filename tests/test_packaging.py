"""A plain (non-editable) install carries conf/ and the embedded dataset, and runs from anywhere."""

import json
import os
import subprocess
import sys

import pytest
from conftest import REPO, run_cli

pytestmark = pytest.mark.slow  # builds and installs the package


def test_non_editable_install_runs_from_another_directory(tmp_path):
    site = tmp_path / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "-q",
            "--no-deps",
            "--no-build-isolation",
            "--target",
            str(site),
            str(REPO),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    assert (site / "transfer_lab" / "conf" / "config.yaml").exists()
    assert (site / "transfer_lab" / "data" / "animalfashion20.npz").exists()
    workdir = tmp_path / "elsewhere"
    workdir.mkdir()
    env = {"PYTHONPATH": str(site)}
    where = subprocess.run(
        [sys.executable, "-c", "import transfer_lab; print(transfer_lab.__file__)"],
        cwd=workdir,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=True,
    )
    assert where.stdout.startswith(str(site))  # the installed copy, not the repo

    done = run_cli("+exp=base", "half=A", root=workdir / "out", cwd=workdir, env=env, fresh=True)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(next((workdir / "out").glob("runs/*/*/baseA/*/result.json")).read_text())
    assert result["status"] == "completed"
