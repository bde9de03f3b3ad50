"""OmegaConf resolvers used by conf/ (registered on import of the package)."""

import os

import torch
from omegaconf import OmegaConf

from transfer_lab.devices import parallel_jobs
from transfer_lab.errors import ConfigError
from transfer_lab.spec import spec_from_config


def auto_precision() -> str:
    """bf16-mixed on GPUs that have bf16, 16-mixed on older GPUs; fp32 on the CPU."""
    if not torch.cuda.is_available():
        return "32-true"
    return "bf16-mixed" if torch.cuda.is_bf16_supported() else "16-mixed"


def loader_threads() -> int:
    """Threads gathering batches: one on the CPU, where the cores train; up to 4 feeding a GPU
    (each gathers ~30k images/s of 256 px from the page cache: four outpace what one GPU trains)."""
    if not torch.cuda.is_available():
        return 1
    return max(1, min(4, (os.cpu_count() or 2) - 2))


def run_name(*, _root_) -> str:
    """The run's folder under paths.root/runs: dataset/split/series_k/seed-hash."""
    try:
        return spec_from_config(_root_).run_name
    except ConfigError:
        return "invalid-config"  # never created: the config check stops the run first


def log_level(verbose) -> str:
    """Hydra's own log level: its launch notices only with verbose=true."""
    return "INFO" if verbose else "WARNING"


def register() -> None:
    OmegaConf.register_new_resolver("tl.auto_precision", auto_precision, replace=True)
    OmegaConf.register_new_resolver("tl.run_name", run_name, replace=True)
    OmegaConf.register_new_resolver("tl.parallel_jobs", parallel_jobs, replace=True)  # one job per GPU, or per core
    OmegaConf.register_new_resolver("tl.loader_threads", loader_threads, replace=True)
    OmegaConf.register_new_resolver("tl.log_level", log_level, replace=True)
