"""The run config from command-line overrides, for the commands beside `python -m transfer_lab`
(prepare, bench): the same conf/ tree, through Hydra's compose API (no run directory, no logging)."""

from hydra import compose, initialize_config_module
from hydra.errors import HydraException
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from transfer_lab.errors import ConfigError


def compose_config(overrides: list[str], hydra: bool = False) -> DictConfig:
    """hydra: with the `hydra` subtree (a sweep's hydra.sweeper.params: bench --study)."""
    try:
        with initialize_config_module(config_module="transfer_lab.conf", version_base="1.3"):
            return compose(config_name="config", overrides=list(overrides), return_hydra_config=hydra)
    except (HydraException, OmegaConfBaseException) as err:
        raise ConfigError(" ".join(str(err).split())) from None


def data_config(cfg: DictConfig) -> dict:
    """The resolved `data` subtree (its paths interpolate paths.root)."""
    try:
        return OmegaConf.to_container(cfg.data, resolve=True)
    except OmegaConfBaseException as err:
        raise ConfigError(" ".join(str(err).split())) from None
