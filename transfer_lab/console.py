"""What a run prints. Quiet by default: Lightning's notices (accelerator, tips, "fit stopped") and the
libraries' warnings appear only with verbose=true or Hydra's verbose flag (hydra.verbose=true)."""

import logging
import warnings

from omegaconf import DictConfig

# Lightning's own loggers (its info notices go through these; levels are what Lightning documents for this).
LIGHTNING_LOGGERS = ("pytorch_lightning", "lightning", "lightning_fabric", "lightning.pytorch", "lightning.fabric")
# Warnings raised inside these packages (deprecations of their own internals, advice that does not apply).
LIBRARY_MODULES = r"(pytorch_lightning|lightning|lightning_fabric|torch|torchmetrics)(\.|$)"


def wants_verbose(cfg: DictConfig, hydra_verbose) -> bool:
    return bool(cfg.get("verbose")) or bool(hydra_verbose)


def quiet_libraries() -> None:
    """Lightning logs warnings and errors only; the libraries' own warnings are dropped."""
    for name in LIGHTNING_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", module=LIBRARY_MODULES)


def outcome(result: dict) -> str:
    """A run's number(s) in a few words: top-1 of a trained network or probe, CKA by layer of a similarity run."""
    if "cka" in result:
        return "CKA(A,B) layers 1-8: " + " ".join(f"{value:.2f}" for value in result["cka"])
    return f"top-1 {result['val_top1']:.4f}"


def closing_line(result: dict, result_path) -> str:
    """A single run's last line: what it was, how it scored, on how many threads, where its record is."""
    threads = result.get("cpu_threads", "?")
    where = f"GPU {result['gpu_slot']}" if result.get("gpu_slot") is not None else f"{threads} CPU thread{'' if threads == 1 else 's'}"
    k = "" if result.get("k") in (0, None) else f" k={result['k']}"
    return f"{result['series']}{k}: {outcome(result)} ({where}); {result_path}"
