"""Dataset name -> loader. A loader takes the `data` config and returns ClassImages; datasets are cached per process."""

import json
from functools import lru_cache

from transfer_lab.data.embedded import load_animalfashion
from transfer_lab.data.images import ClassImages
from transfer_lab.data.imagenet import load_imagenet
from transfer_lab.errors import ConfigError

LOADERS = {
    "animalfashion": lambda data: load_animalfashion(data.get("path")),
    "imagenet": load_imagenet,
}


def load_dataset(data: dict) -> ClassImages:
    if data["name"] not in LOADERS:
        raise ConfigError(f"unknown dataset data.name={data['name']!r}: choose one of {sorted(LOADERS)} with data=NAME")
    return _load(json.dumps(data, sort_keys=True))


@lru_cache(maxsize=2)
def _load(data_json: str) -> ClassImages:
    data = json.loads(data_json)
    return LOADERS[data["name"]](data)
