"""Dataset name -> loader, and a run's half of it. A loader takes the `data` config and returns
ClassImages; datasets are cached per process."""

import json
from functools import lru_cache

from transfer_lab.data.embedded import load_animalfashion
from transfer_lab.data.imagenet import load_imagenet
from transfer_lab.data.images import ClassImages, HalfImages
from transfer_lab.data.scarcity import scarce_half
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


def check_data(spec: RunSpec) -> tuple[ClassImages, Split]:
    """(dataset, split), checked: fail fast (ConfigError) on data that cannot be read or a split that
    leaves a half empty."""
    dataset = load_dataset(spec.data)
    split = make_split(natural=dataset.natural, **spec.split)
    split.check_target(spec.target)
    if spec.source is not None:
        split.classes(spec.source)
    return dataset, split


def target_half(spec: RunSpec) -> tuple[ClassImages, Split, HalfImages]:
    """(dataset, split, half): the images of the run's own half, all of them (before any scarce subset)."""
    dataset = load_dataset(spec.data)
    split = make_split(natural=dataset.natural, **spec.split)
    return dataset, split, dataset.half(split.classes(spec.target))


def training_half(spec: RunSpec) -> tuple[ClassImages, Split, HalfImages, dict]:
    """(dataset, split, half, fields): the run's own half as it trains on it (data.target_per_class
    images per class when set) and what its record says of it: class and image counts, the scarce
    subset's digest and warnings."""
    dataset, split, half = target_half(spec)
    full_train_size, subset = len(half.train_labels), {"warnings": []}
    if spec.target_per_class is not None:
        half, subset = scarce_half(half, spec.target_per_class, spec.split)
    fields = {
        "n_classes": len(half.classes),
        "n_train_images": len(half.train_labels),
        "n_train_images_full": full_train_size,
        **subset,
        "n_val_images": len(half.val_labels),
    }
    return dataset, split, half, fields
