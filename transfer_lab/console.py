"""What the commands print, and how they stop on bad input: one line, exit status 2.

Quiet by default: Lightning's notices (accelerator, tips, "fit stopped") and the libraries'
warnings appear only with verbose=true or Hydra's verbose flag (hydra.verbose=true).
"""

import logging
import shlex
import sys
import tempfile
import warnings
from pathlib import Path

from omegaconf import DictConfig

from transfer_lab.errors import ConfigError, TrainingDiverged
from transfer_lab.io import DISK_ERRORS
from transfer_lab.run.record import outcome

# Lightning's own loggers (its info notices go through these; levels are what Lightning documents for this).
LIGHTNING_LOGGERS = ("pytorch_lightning", "lightning", "lightning_fabric", "lightning.pytorch", "lightning.fabric")
# Loggers that speak while the training stack is imported: matplotlib (Lightning imports it) notes the font
# cache it builds on a machine's first run, which Hydra's logging would print.
IMPORT_LOGGERS = ("matplotlib",)
# Warnings raised inside these packages (deprecations of their own internals, advice that does not apply).
LIBRARY_MODULES = r"(pytorch_lightning|lightning|lightning_fabric|torch|torchmetrics)(\.|$)"


def fail(message: str) -> None:
    """One clear line on stderr, exit status 2 (SystemExit passes through Hydra's error report)."""
    print(f"transfer_lab: error: {message}", file=sys.stderr)
    sys.exit(2)


def one_line_error(err: Exception, root: str) -> str | None:
    """The one-line message for errors the user can fix; None for bugs (their traceback is shown)."""
    if isinstance(err, (ConfigError, TrainingDiverged)):
        return str(err)
    if isinstance(err, OSError) and err.errno in DISK_ERRORS:
        return (
            f"cannot write {err.filename or 'under ' + root}: {err.strerror}. Completed files are intact; "
            f"free some space (or choose another paths.root) and re-run the same command to resume"
        )
    return None


def check_writable(root: str) -> None:
    """Try to create a folder where paths.root is (or would be created), rather than trust permission bits."""
    path = Path(root).absolute()
    while not path.exists():
        path = path.parent
    if not path.is_dir():
        fail(f"paths.root={root} cannot be created: {path} is a file, not a folder: choose another with paths.root=DIR")
    try:
        Path(tempfile.mkdtemp(dir=path)).rmdir()
    except OSError as err:
        fail(
            f"paths.root={root} cannot be created: {path} does not accept new folders ({err.strerror or err}): "
            f"choose another with paths.root=DIR"
        )


def command_line(program: str, argv: list[str] | None) -> str:
    """The command as typed: `program` and its arguments (sys.argv's when argv is None), shell-quoted."""
    return " ".join([program, *map(shlex.quote, sys.argv[1:] if argv is None else argv)])


def wants_verbose(cfg: DictConfig, hydra_verbose) -> bool:
    return bool(cfg.get("verbose")) or bool(hydra_verbose)


def quiet_imports() -> None:
    """Before the training stack is imported: its libraries' import-time notices are dropped."""
    for name in IMPORT_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)


def quiet_libraries() -> None:
    """Lightning logs warnings and errors only; the libraries' own warnings are dropped."""
    for name in LIGHTNING_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", module=LIBRARY_MODULES)


def closing_line(result: dict, result_path) -> str:
    """A single run's last line: what it was, how it scored, on how many threads, where its record is."""
    threads = result.get("cpu_threads", "?")
    where = (
        f"GPU {result['gpu_slot']}"
        if result.get("gpu_slot") is not None
        else f"{threads} CPU thread{'' if threads == 1 else 's'}"
    )
    k = "" if result.get("k") in (0, None) else f" k={result['k']}"
    logged = f"; W&B {result['wandb_run']}" if result.get("wandb_run") else ""
    return f"{result['series']}{k}: {outcome(result)} ({where}); {result_path}{logged}"
