"""The study's sweeper: checks every job first, drops finished ones, launches the rest, reports."""

from collections.abc import Sequence
from typing import Any

from hydra.core.plugins import Plugins
from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig

from transfer_lab.sweep import sweeper


class StudySweeper(Sweeper):
    def __init__(self, params: dict[str, str] | None = None, fuse_frozen: bool = True):
        self.params = (
            params or {}
        )  # hydra.sweeper.params: key -> comma-separated values, as Hydra's basic sweeper takes them
        self.fuse_frozen = fuse_frozen

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        self.config, self.hydra_context = config, hydra_context
        self.launcher = Plugins.instance().instantiate_launcher(
            hydra_context=hydra_context, task_function=task_function, config=config
        )

    def sweep(self, arguments: list[str]) -> Sequence[Any]:
        params = [f"{key}={value}" for key, value in self.params.items()]
        return sweeper.sweep(self.config, self.hydra_context, self.launcher, [*params, *arguments], self.fuse_frozen)
