"""Where jobs run. One training per GPU: each job claims a free GPU with an OS file lock and holds it while it runs.

Launchers start jobs, but do not place them: Hydra's joblib workers and submitit-local jobs all see
every GPU and would all train on GPU 0. A job here takes the first GPU whose lock it can get (or
waits for one), so with one worker per GPU every job lands on its own device. Locks are flock-based
(released if the job dies) and keyed by the GPU's UUID, so processes that see different
CUDA_VISIBLE_DEVICES still agree on which physical GPU is taken.

TRANSFER_LAB_FAKE_GPUS=N pretends N GPUs exist (the run still computes on the CPU) so the
placement can be tested without a GPU.
"""

import os
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import filelock
import torch

FAKE_GPUS_ENV = "TRANSFER_LAB_FAKE_GPUS"
LOCK_DIR_ENV = "TRANSFER_LAB_LOCK_DIR"
PARALLEL_JOBS_ENV = "TRANSFER_LAB_PARALLEL_JOBS"  # set by a sweep for its jobs: how many run side by side
POLL_S = 2.0


def gpu_ids() -> list[str]:
    """Stable ids of the GPUs this process can use, in device-index order."""
    fake = os.environ.get(FAKE_GPUS_ENV)
    if fake:
        return [f"fake{i}" for i in range(int(fake))]
    if not torch.cuda.is_available():
        return []
    return [str(torch.cuda.get_device_properties(i).uuid) for i in range(torch.cuda.device_count())]


def parallel_jobs() -> int:
    """How many jobs to run at once on this machine: one per GPU; on a CPU-only machine one per
    core, each on one thread (small networks train ~1.9x faster that way than one job on all cores)."""
    return len(gpu_ids()) or os.cpu_count() or 1


def jobs_side_by_side() -> int:
    """How many jobs of this process's sweep run at once (1 outside a sweep)."""
    return int(os.environ.get(PARALLEL_JOBS_ENV, "1"))


def prepare_cpu() -> None:
    """Settings for training on the CPU, made before torch's first parallel op (each OpenMP thread
    keeps the floating-point mode it was started with):
    - denormal floats flush to zero: with them, the steps of some runs were 30-45% slower on 2 cores
      (python -m transfer_lab.bench, 2026-11-26);
    - the job trains on the CPUs it was given (cpu_threads)."""
    torch.set_flush_denormal(True)
    threads = cpu_threads()
    if threads is not None:
        torch.set_num_threads(threads)


def cpu_threads() -> int | None:
    """The threads of a job training on the CPU: in a SLURM job, the CPUs SLURM gave it (its jobs do not
    share a machine's cores: the sweep's jobs-at-once is the array's, not this machine's); in a sweep
    running jobs side by side here, its share of the cores; None: torch's default."""
    if "SLURM_JOB_ID" in os.environ:
        return int(os.environ.get("SLURM_CPUS_PER_TASK") or len(os.sched_getaffinity(0)))
    workers = jobs_side_by_side()
    return max(1, len(os.sched_getaffinity(0)) // workers) if workers > 1 else None


def lock_dir() -> Path:
    default = Path(tempfile.gettempdir()) / f"transfer_lab-gpus-{os.getuid()}"
    return Path(os.environ.get(LOCK_DIR_ENV, default))


def on_gpu(gpu: int | None) -> bool:
    """Whether a job that claimed `gpu` (job_device) computes on it: the one rule for the device a job trains on
    (with TRANSFER_LAB_FAKE_GPUS, a claimed index on a machine without CUDA, it computes on the CPU)."""
    return gpu is not None and torch.cuda.is_available()


def torch_device(gpu: int | None) -> torch.device:
    """The torch device of a claimed GPU index (None: the CPU)."""
    return torch.device(f"cuda:{gpu}" if on_gpu(gpu) else "cpu")


def device_fields(device: torch.device | str, gpu: int | None) -> dict:
    """Where a job computed, as its record says: the device, the CPU threads it had and its GPU slot."""
    # A sweep's CPU jobs share the cores (prepare_cpu).
    return {"device": str(device), "cpu_threads": torch.get_num_threads(), "gpu_slot": gpu}


@contextmanager
def job_device() -> Iterator[int | None]:
    """The device of one job's computation: a GPU of its own (its index), or the CPU made ready (None)."""
    with claim_gpu() as gpu:
        if gpu is None:
            prepare_cpu()
        yield gpu


@contextmanager
def claim_gpu() -> Iterator[int | None]:
    """Yield the index of a GPU held by this job alone (None on a CPU-only machine)."""
    ids = gpu_ids()
    if not ids:
        yield None
        return
    folder = lock_dir()
    folder.mkdir(parents=True, exist_ok=True)
    locks = [filelock.FileLock(str(folder / f"{gpu}.lock")) for gpu in ids]
    waited = False
    while True:
        for index, lock in enumerate(locks):
            try:
                lock.acquire(timeout=0)
            except filelock.Timeout:
                continue
            try:
                yield index
            finally:
                lock.release()
            return
        if not waited:
            print(f"all {len(ids)} GPUs are busy with other jobs: waiting for one", file=sys.stderr)
            waited = True
        time.sleep(POLL_S)
