"""Shared fixtures: a throw-away paths.root and a runner for the real CLI in a subprocess."""

import atexit
import math
import multiprocessing
import os
import runpy
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import pytest
import torch

from transfer_lab.compose import compose_config
from transfer_lab.errors import ConfigError
from transfer_lab.run.inputs import check_inputs
from transfer_lab.spec import RunSpec, spec_from_config

REPO = Path(__file__).resolve().parents[1]
# Tiny and quiet: a few steps, no progress bars; W&B never reaches the network in tests.
FAST = ["recipe=tiny", "trainer.enable_progress_bar=false"]
# Even tinier, for sweeps: 2 steps, validation on 4 batches. Plumbing, not results.
QUICK = ["recipe.max_steps=2", "recipe.val_check_interval=2", "trainer.limit_val_batches=4"]
# For sweeps whose parallel workers are not what is tested: jobs in the sweep's own process (each
# worker process costs ~5 s of CPU to start; tests/sweep covers the workers).
ONE_WORKER = "hydra.launcher.n_jobs=1"
os.environ.setdefault("WANDB_MODE", "offline")
# Parallel test workers (make test) share the cores: idle OpenMP threads sleep instead of spinning,
# which otherwise burned ~30% of the suite's CPU time (12m51s -> 9m08s of CPU, 7m05s -> 5m15s wall).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


FP32_EPS = torch.finfo(torch.float32).eps  # 1.19e-7: the spacing of float32 numbers near 1


def fp32_tolerance(reference: torch.Tensor, fan_in: int) -> float:
    """The absolute error fp32 arithmetic allows between two correct computations of `reference`, each
    element a sum of `fan_in` terms (a conv's kernel, LRN's window, ...): rounding errors grow as
    eps * sqrt(fan_in) times the magnitude summed, taken as the reference's largest value (an element
    near 0 can be the small difference of large terms: its error is that of the large ones). x4: two
    computations, each off by up to about twice the typical error. Set this way, a test passes on every
    CPU's kernels (AVX2, AVX-512: other summation orders) and still fails for a wrong formula."""
    return 4 * FP32_EPS * math.sqrt(fan_in) * reference.detach().abs().max().item()


def assert_close_fp32(actual: torch.Tensor, expected: torch.Tensor, fan_in: int) -> None:
    torch.testing.assert_close(actual, expected, rtol=0, atol=fp32_tolerance(expected, fan_in))


def plain_spec(**fields) -> RunSpec:
    """A spec with placeholder model and recipe, base A unless `fields` say otherwise: for the parts that read
    names, halves and kinds only (no network is built from it)."""
    defaults = {
        "kind": "base",
        "target": "A",
        "source": None,
        "k": 0,
        "freeze": False,
        "seed": 0,
        "auto_base": True,
        "data": {"name": "animalfashion", "path": None},
        "split": {"name": "random", "seed": 0},
        "model": {"name": "m"},
        "recipe": {"name": "r"},
    }
    return RunSpec(**{**defaults, **fields})


def run_under_file_limit(kib: int, command: str, *arguments: str, env: dict | None = None):
    """`command` in bash with every write past `kib` KiB failing with EFBIG (ulimit -f; Python ignores
    SIGXFSZ), as on a full disk; `arguments` are its $0, $1, ..."""
    return subprocess.run(
        ["bash", "-c", f"ulimit -f {kib}; exec {command}", *arguments],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1", **(env or {})},
    )


def spec_of(*overrides: str) -> RunSpec:
    """The RunSpec of these overrides, composed as the CLI composes them (Hydra's compose API)."""
    return spec_from_config(compose_config(list(overrides)))


def input_error(*overrides: str) -> str:
    """The error that `python -m transfer_lab OVERRIDES` stops with before any work: the CLI's check of its
    inputs (run/inputs.check_inputs) on the spec composed as the CLI composes it, here in the test's process.
    Each message case through the real CLI would cost a process start (~3 s of CPU); the tests that run the CLI
    on bad input (tests/test_cli.py) show the exit status 2, the one line and that nothing is written."""
    with pytest.raises(ConfigError) as raised:
        check_inputs(spec_of(*overrides))
    message = str(raised.value)
    assert "\n" not in message, message
    return message


def cli_args(*overrides: str, root: Path, fast: bool = True) -> list[str]:
    return [*overrides, f"paths.root={root}", *(FAST if fast else [])]


def cli_env(env: dict | None = None) -> dict:
    return {**os.environ, "WANDB_MODE": "offline", "PYTHONUNBUFFERED": "1", **(env or {})}


def run_cli(
    *overrides: str, root: Path, cwd: Path = REPO, env: dict | None = None, fast: bool = True, fresh: bool = False
):
    """`python -m transfer_lab OVERRIDES paths.root=ROOT`; returns the CompletedProcess. fresh: in a new
    interpreter (what a console test reads, an install elsewhere), else forked (run_module)."""
    args = cli_args(*overrides, root=root, fast=fast)
    return run_module("transfer_lab", args, cwd=cwd, env=cli_env(env), fresh=fresh)


# The real commands, `python -m MODULE ARGS`, run in processes forked from a server that has imported the
# package and its libraries: a new interpreter spends 3-6 s of CPU importing torch, Lightning and Hydra before
# the command starts, most of the suite's time when each test started its own. The child is the command's
# process as a new interpreter would be (its argv, environment, working folder, umask, stdout and stderr,
# exit status); tests that signal a command or read what a new interpreter prints start `python` itself.
COMMAND_SERVER = multiprocessing.get_context("forkserver")
# Packages whose __main__ runs, not modules run as main (runpy warns when the module it runs is already imported).
COMMAND_SERVER.set_forkserver_preload(["conftest", "transfer_lab.cli", "transfer_lab.bench", "transfer_lab.data.cache"])


def run_module(
    module: str, args: list[str], cwd: Path = REPO, env: dict | None = None, timeout: float = 600, fresh: bool = False
):
    """`python -m MODULE ARGS` in a forked process (COMMAND_SERVER); returns a CompletedProcess. fresh, and on a
    CUDA machine: in a new interpreter (a process forked after CUDA's driver started cannot use the GPU)."""
    if fresh or torch.cuda.is_available():
        command = [sys.executable, "-m", module, *args]
        return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    with tempfile.TemporaryDirectory() as folder:
        out, err = Path(folder) / "stdout", Path(folder) / "stderr"
        umask = os.umask(0o022)
        os.umask(umask)
        child = COMMAND_SERVER.Process(
            target=command_process, args=(module, args, str(cwd), dict(env or os.environ), umask, str(out), str(err))
        )
        child.start()
        child.join(timeout)
        if child.exitcode is None:
            child.kill()
            child.join()
            raise subprocess.TimeoutExpired([module, *args], timeout)
        return subprocess.CompletedProcess(
            [sys.executable, "-m", module, *args], child.exitcode, out.read_text(), err.read_text()
        )


def command_process(module: str, args: list[str], cwd: str, env: dict, umask: int, out: str, err: str) -> None:
    """The forked process of run_module: `python -m MODULE ARGS` as runpy runs it for a new interpreter."""
    os.chdir(cwd)
    os.environ.clear()
    os.environ.update(env)
    os.umask(umask)
    for fd, path in ((1, out), (2, err)):
        os.dup2(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC), fd)
    sys.argv = [module, *args]
    try:
        runpy.run_module(module, run_name="__main__", alter_sys=True)
    finally:  # what an interpreter's exit runs and a forked process's os._exit skips; joblib's workers stop here
        threading._shutdown()
        atexit._run_exitfuncs()


def start_cli(*overrides: str, root: Path) -> subprocess.Popen:
    """The same command as run_cli, started in the background (stdout and stderr piped)."""
    return subprocess.Popen(
        [sys.executable, "-m", "transfer_lab", *cli_args(*overrides, root=root)],
        cwd=REPO,
        env=cli_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def only(pattern: str, root: Path) -> Path:
    """The one path under `root` matching `pattern` (fails if there are none or several)."""
    found = sorted(root.glob(pattern))
    assert len(found) == 1, f"{pattern}: {found}"
    return found[0]


def shared_a_device_at_once(runs: list[dict]) -> bool:
    """Whether two of these result records trained on the same device at overlapping times."""
    return any(
        a is not b
        and a["device"] == b["device"]
        and a["started_at"] < b["finished_at"]
        and b["started_at"] < a["finished_at"]
        for a in runs
        for b in runs
    )


# Tests that use these run the real commands in subprocesses on tiny data: marked `slow`, so that
# `pytest -m "not slow"` is the quick loop. Slow tests go first, so that parallel workers (make test)
# end together on the quick ones.
END_TO_END_FIXTURES = {"cli", "imagenet_cache"}


def pytest_collection_modifyitems(items):
    for item in items:
        if END_TO_END_FIXTURES & set(item.fixturenames):
            item.add_marker(pytest.mark.slow)
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "outputs"


@pytest.fixture(scope="session")
def cli():
    return run_cli


# ImageNet-shaped fixtures: tiny real JPEG trees (transfer_lab.synthetic_imagenet) and their cache.
# 80 px images with 67 px crops: the smallest input CaffeNet's geometry accepts.
SMALL_IMAGENET = ["data=imagenet", "data.image_size=80", "data.crop_size=67"]


def prepare_cli(*overrides: str, workers: int = 2, timeout: int = 300):
    """`python -m transfer_lab.prepare --no-progress OVERRIDES`; returns the CompletedProcess."""
    args = ["--no-progress", f"--workers={workers}", *overrides]
    return run_module("transfer_lab.prepare", args, env={**os.environ, "PYTHONUNBUFFERED": "1"}, timeout=timeout)


@pytest.fixture(scope="session")
def imagenet_cache(tmp_path_factory) -> dict:
    """A prepared 80 px cache of an 8-class tree with ImageNet's odd files: {'root', 'paths_root', 'overrides'}."""
    from transfer_lab.synthetic_imagenet import write_tree

    base = tmp_path_factory.mktemp("imagenet")
    tree, outputs = base / "tree", base / "outputs"
    write_tree(tree, classes=8, per_class=40, val_per_class=4, size=64, quirks=True)
    overrides = [*SMALL_IMAGENET, f"data.root={tree}", f"paths.root={outputs}"]
    done = prepare_cli(*overrides)
    assert done.returncode == 0, done.stderr[-3000:]
    return {"root": tree, "paths_root": outputs, "overrides": overrides}
