"""Dataset name -> loader. A loader returns ClassImages; datasets are cached per process."""

from functools import lru_cache

from transfer_lab.data.embedded import load_animalfashion
from transfer_lab.data.images import ClassImages
from transfer_lab.errors import ConfigError

LOADERS = {"animalfashion": load_animalfashion}


def load_dataset(data: dict) -> ClassImages:
    if data["name"] not in LOADERS:
        raise ConfigError(f"unknown dataset data.name={data['name']!r}: choose one of {sorted(LOADERS)} with data=NAME")
    return _load(data["name"], data.get("path"))


@lru_cache(maxsize=2)
def _load(name: str, path: str | None) -> ClassImages:
    return LOADERS[name](path)
