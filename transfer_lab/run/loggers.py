"""Metric loggers of a run, built from conf/logger/*.yaml; W&B runs get the study's metadata."""

from pathlib import Path

from hydra.utils import instantiate
from pytorch_lightning.loggers import Logger, WandbLogger

from transfer_lab.kinds import kind_of
from transfer_lab.spec import RunSpec, split_label


def make_logger(spec: RunSpec, run_dir: Path) -> Logger | bool:
    if not spec.logger.get("_target_"):
        return False
    # W&B looks for a git repository from the save folder, and warns if the folder does not exist yet.
    Path(run_dir).mkdir(parents=True, exist_ok=True)
    settings = dict(spec.logger)
    if settings["_target_"].endswith("WandbLogger"):
        settings.update(
            name=spec.run_name,
            group=settings.get("group") or spec.study.wandb_group,  # one W&B group per study
            job_type=spec.kind,
            tags=[
                spec.series,
                f"split:{split_label(spec.split)}-s{spec.split['seed']}",
                f"k:{spec.k}",
                kind_of(spec).tag(spec),
            ],
            config=spec.identity() | {"config_hash": spec.config_hash},
        )
    # Not recursive: the W&B config holds _target_ keys; converted: wandb wants plain dicts, not DictConfig.
    logger = instantiate(settings, save_dir=str(run_dir), _recursive_=False, _convert_="all")
    if isinstance(logger, WandbLogger):
        # Lightning passes wandb.init an `anonymous` argument W&B no longer has (a warning per run).
        logger._wandb_init.pop("anonymous", None)
        # The run summary keeps the best val top-1, not the last value logged.
        logger.experiment.define_metric("val/top1", summary="max")
    return logger


def logger_location(logger: Logger | bool) -> dict:
    """Where a W&B run is, for the run's record and line: its URL, or offline its folder (to `wandb sync`)."""
    if not isinstance(logger, WandbLogger):
        return {}
    run = logger.experiment
    return {"wandb_run": str(run.settings.sync_dir) if run.offline else run.url}


def finish_logger(logger: Logger | bool) -> None:
    """Close the W&B run of this job: jobs of a multirun share a process and must not share a run."""
    if isinstance(logger, WandbLogger):
        logger.experiment.finish()
