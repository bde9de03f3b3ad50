"""Shared fixtures: a throw-away paths.root and a runner for the real CLI in a subprocess."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
# Tiny and quiet: a few steps, no progress bars; W&B never reaches the network in tests.
FAST = ["recipe=tiny", "trainer.enable_progress_bar=false"]
os.environ.setdefault("WANDB_MODE", "offline")


def run_cli(*overrides: str, root: Path, cwd: Path = REPO, env: dict | None = None, fast: bool = True):
    """`python -m transfer_lab OVERRIDES paths.root=ROOT`; returns the CompletedProcess."""
    cmd = [sys.executable, "-m", "transfer_lab", *overrides, f"paths.root={root}", *(FAST if fast else [])]
    full_env = {**os.environ, "WANDB_MODE": "offline", "PYTHONUNBUFFERED": "1", **(env or {})}
    return subprocess.run(cmd, cwd=cwd, env=full_env, capture_output=True, text=True, timeout=600)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "outputs"


@pytest.fixture(scope="session")
def cli():
    return run_cli
