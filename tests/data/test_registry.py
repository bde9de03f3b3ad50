"""Dataset name -> loader, and a run's half of it (as it trains on it)."""

from dataclasses import replace

import pytest
from conftest import plain_spec

from transfer_lab.data.registry import check_data, load_dataset, target_half, training_half
from transfer_lab.errors import ConfigError

SPEC = plain_spec(target="B")


def test_an_unknown_dataset_is_one_line_naming_the_known_ones():
    with pytest.raises(ConfigError, match=r"data.name='mnist'.*\['animalfashion', 'imagenet'\]"):
        load_dataset({"name": "mnist"})


def test_the_checked_data_is_the_dataset_and_split_the_run_trains_on():
    dataset, split = check_data(SPEC)
    target_dataset, target_split, half = target_half(SPEC)
    assert dataset is target_dataset  # cached per process
    assert split.halves == target_split.halves and half.classes == split.classes("B")
    assert set(half.train_labels.tolist()) == set(range(len(half.classes)))  # labels within the half


def test_a_scarce_half_keeps_n_images_per_class_and_says_how_many_it_had():
    *_, full, fields = training_half(SPEC)
    *_, scarce, scarce_fields = training_half(replace(SPEC, data={**SPEC.data, "target_per_class": 3}))
    assert scarce_fields["n_train_images"] == 3 * len(scarce.classes) < fields["n_train_images"]
    assert scarce_fields["n_train_images_full"] == fields["n_train_images"] == len(full.train_labels)
    assert scarce_fields["n_val_images"] == fields["n_val_images"]  # validation stays whole
