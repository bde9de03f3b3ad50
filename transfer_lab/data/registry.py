"""Dataset name -> loader, and a run's half of it. A loader takes the `data` config and returns
ClassImages; datasets are cached per process."""

import json
from functools import lru_cache

from transfer_lab.data.embedded import load_animalfashion
from transfer_lab.data.images import ClassImages, HalfImages
from transfer_lab.data.imagenet import load_imagenet
from transfer_lab.data.splits import Split, make_split
from transfer_lab.errors import ConfigError
from transfer_lab.spec import RunSpec

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


def check_data(spec: RunSpec) -> None:
    """Fail fast (ConfigError) on data that cannot be read or a split that leaves a half empty."""
    dataset = load_dataset(spec.data)
    split = make_split(natural=dataset.natural, **spec.split)
    split.check_target(spec.target)
    if spec.source is not None:
        split.classes(spec.source)


def target_half(spec: RunSpec) -> tuple[ClassImages, Split, HalfImages]:
    """(dataset, split, half): the images of the run's own half, all of them (before any scarce subset)."""
    dataset = load_dataset(spec.data)
    split = make_split(natural=dataset.natural, **spec.split)
    return dataset, split, dataset.half(split.classes(spec.target))
