"""devices.prepare_cpu in a fresh process (its settings are process-wide): denormals and core shares."""

import os
import subprocess
import sys

from transfer_lab.devices import PARALLEL_JOBS_ENV

PROBE = (
    "import torch; from transfer_lab.devices import prepare_cpu; prepare_cpu(); "
    "print(float(torch.full((4096,), 1e-39).mul(1.0).max()), torch.get_num_threads())"
)


def probe(jobs: int | None, slurm: dict | None = None) -> tuple[float, int]:
    env = {key: value for key, value in os.environ.items() if key != PARALLEL_JOBS_ENV and not key.startswith("SLURM_")}
    if jobs is not None:
        env[PARALLEL_JOBS_ENV] = str(jobs)
    env.update(slurm or {})
    out = subprocess.run(
        [sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, check=True
    ).stdout.split()
    return float(out[0]), int(out[1])


def test_cpu_training_flushes_denormal_floats_to_zero():
    denormal, _ = probe(None)
    assert denormal == 0.0  # 1e-39 is below float32's smallest normal number (1.2e-38)


def test_a_sweep_job_on_the_cpu_takes_its_share_of_the_cores():
    cores = os.cpu_count()
    assert probe(None)[1] == torch_default_threads()
    assert probe(cores)[1] == 1 and probe(1)[1] == torch_default_threads()


def torch_default_threads() -> int:
    code = "import torch; print(torch.get_num_threads())"
    return int(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout)


def test_a_slurm_job_trains_on_the_cpus_slurm_gave_it_whatever_the_sweeps_jobs_at_once():
    # The sweep's jobs-at-once is the array's parallelism (64): each job has its own allocation.
    assert probe(64, {"SLURM_JOB_ID": "7", "SLURM_CPUS_PER_TASK": "2"})[1] == 2
    assert probe(64, {"SLURM_JOB_ID": "7"})[1] == len(os.sched_getaffinity(0))
