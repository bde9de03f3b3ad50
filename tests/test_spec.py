"""Config composition (Hydra's compose API) and validation into a RunSpec."""

import pytest
from conftest import spec_of as spec
from hydra import compose, initialize_config_module

from transfer_lab.errors import ConfigError


def config(*overrides: str):
    with initialize_config_module(config_module="transfer_lab.conf", version_base="1.3"):
        return compose(config_name="config", overrides=list(overrides))


def test_anb_preset_is_a_frozen_transfer_from_a_to_b():
    s = spec("+exp=anb", "k=3")
    assert (s.kind, s.source, s.target, s.k, s.freeze, s.series) == ("transfer", "A", "B", 3, True, "AnB")
    assert spec("+exp=anb", "k=3", "freeze=false").series == "AnB+"
    assert spec("+exp=bnb", "k=2").series == "BnB"
    assert spec("+exp=transfer", "source=B", "target=A", "k=7").series == "BnA"
    assert spec("+exp=base", "half=B").series == "baseB"


def test_embedded_data_picks_its_model_and_recipe_unless_told_otherwise():
    s = spec("+exp=anb", "k=3")
    assert (s.data["name"], s.model["name"], s.recipe["name"]) == ("animalfashion", "alexnet_small", "embedded")
    s = spec("+exp=anb", "k=3", "model=alexnet", "recipe=paper")
    assert (s.model["name"], s.recipe["name"]) == ("alexnet", "paper")
    assert s.model["net"]["input_size"] == s.data["crop_size"]  # the model follows the data's geometry


def test_a_base_and_its_transfers_share_the_base_key():
    transfer = spec("+exp=anb", "k=3")
    assert transfer.base_spec("A").config_hash == spec("+exp=base", "half=A").config_hash
    assert transfer.base_spec("A").config_hash == spec("+exp=anb", "k=5", "freeze=false").base_spec("A").config_hash


@pytest.mark.parametrize(
    "override",
    ["seed=1", "split.seed=1", "split=natman", "recipe.max_epochs=4", "model.net.dropout=0.3", "half=B"],
)
def test_the_base_key_changes_with_what_defines_the_base(override):
    assert spec("+exp=base", "half=A").config_hash != spec("+exp=base", "half=A", override).config_hash


@pytest.mark.parametrize(
    "override", ["data.path=/elsewhere/af20.npz", "trainer.log_every_n_steps=1", "paths.root=/tmp/x"]
)
def test_the_base_key_ignores_where_files_live_and_how_runs_are_logged(override):
    assert spec("+exp=base", "half=A").config_hash == spec("+exp=base", "half=A", override).config_hash


@pytest.mark.parametrize(
    "overrides, message",
    [
        ([], "no experiment chosen"),
        (["+exp=anb"], "k is required"),
        (["+exp=anb", "k=0"], "k=0 is not a layer count"),
        (["+exp=anb", "k=8"], "k=8 is not a layer count"),
        (["+exp=anb", "k=-1"], "k=-1 is not a layer count"),
        (["+exp=anb", "k=three"], "k='three' is not a layer count"),
        (["+exp=anb", "k=3.0"], "is not a layer count"),
        (["+exp=anb", "k=true"], "is not a layer count"),
        (["+exp=anb", "k=3", "freeze=maybe"], "freeze='maybe' is not a boolean"),
        (["+exp=base"], "half is required"),
        (["+exp=base", "half=C"], "half='C' is not a half"),
        (["+exp=base", "half=A", "k=3"], "k=3 is set for a base run"),
        (["+exp=transfer", "k=3"], "source is required"),
        (["+exp=transfer", "source=A", "target=X", "k=3"], "target='X' is not a half"),
        (["+exp=anb", "k=3", "seed=abc"], "seed='abc' is not an integer"),
    ],
)
def test_bad_input_is_one_line_that_names_the_problem_and_the_fix(overrides, message):
    with pytest.raises(ConfigError, match=message) as err:
        spec(*overrides)
    assert "\n" not in str(err.value)
    assert "use" in str(err.value) or "add" in str(err.value)


@pytest.mark.parametrize("group", ["exp=nope", "split=nope", "model=nope", "data=nope"])
def test_unknown_group_options_are_refused_by_hydra_naming_the_group(group):
    name = group.split("=")[0]
    overrides = [f"+{group}"] if name == "exp" else ["+exp=anb", "k=3", group]
    with pytest.raises(Exception, match=f"Could not find '{name}/nope'"):
        config(*overrides)


def test_imagenet_picks_caffenet_and_the_papers_recipe():
    # Which model and recipe the data selects (not their values, which are the config files'), and the 1000-way fc8.
    s = spec("+exp=base", "half=A", "data=imagenet", "data.root=/data/ilsvrc")
    assert (s.model["name"], s.recipe["name"], s.model["net"]["fc8_outputs"]) == ("alexnet", "paper", 1000)
    assert s.data["crop_size"] < s.data["image_size"]  # random crops of the cached images


def test_fast_recipe_is_the_papers_solver_on_a_fifth_of_the_schedule():
    paper = spec("+exp=base", "half=A", "data=imagenet").recipe
    fast = spec("+exp=base", "half=A", "data=imagenet", "recipe=fast").recipe
    assert fast["name"] == "fast"
    assert 5 * fast["max_steps"] == paper["max_steps"]
    assert 5 * fast["scheduler"]["step_size"] == paper["scheduler"]["step_size"]
    same = ("batch_size", "optimizer", "bias_lr_mult", "val_check_interval")
    assert {key: fast[key] for key in same} == {key: paper[key] for key in same}


@pytest.mark.parametrize("override", ["model.compile=true", "data.cache_dir=/scratch/c", "data.root=/elsewhere"])
def test_compiling_or_moving_imagenet_keeps_the_base_key(override):
    base = ("+exp=base", "half=A", "data=imagenet")
    assert spec(*base).config_hash == spec(*base, override).config_hash


def test_the_cache_size_is_part_of_the_base_key():
    base = ("+exp=base", "half=A", "data=imagenet")
    assert spec(*base).config_hash != spec(*base, "data.image_size=128", "data.crop_size=113").config_hash


def test_images_per_class_name_the_run_and_enter_its_hash_but_not_its_source_base():
    full, scarce = spec("+exp=anb", "k=3"), spec("+exp=anb", "k=3", "data.target_per_class=10")
    assert scarce.target_per_class == 10 and full.target_per_class is None
    assert scarce.config_hash != full.config_hash != spec("+exp=anb", "k=3", "data.target_per_class=5").config_hash
    assert scarce.run_name.split("/")[2] == "AnB_k3_n10"
    # The source base is trained on its full half: the same stored base as without the setting.
    assert (
        scarce.base_spec("A").config_hash == full.base_spec("A").config_hash == spec("+exp=base", "half=A").config_hash
    )
    assert "target_per_class" not in full.identity()["data"]  # unset: hashes of runs stored before it existed hold


def test_a_scarce_base_run_trains_on_its_scarce_half():
    s = spec("+exp=base", "half=B", "data.target_per_class=5")
    assert s.target_per_class == 5 and s.config_hash != spec("+exp=base", "half=B").config_hash
    assert s.run_name.split("/")[2] == "baseB_n5"


def test_random_filters_are_frozen_random_layers_on_all_classes():
    s = spec("+exp=random_filters", "k=4")
    assert (s.kind, s.target, s.source, s.k, s.freeze, s.series) == ("random", "A", None, 4, True, "randomA")
    assert s.split["name"] == "all"
    assert s.run_name.split("/")[1:3] == ["all-s0", "randomA_k4"]
    assert spec("run=randomA_k4", "split=all").config_hash == s.config_hash


def test_unequal_splits_name_their_run_folder():
    s = spec("+exp=anb", "k=3", "split=ratio", "split.source_classes=18")
    assert s.run_name.split("/")[1] == "ratio18-s0"
    assert s.config_hash != spec("+exp=anb", "k=3", "split=ratio", "split.source_classes=15").config_hash


@pytest.mark.parametrize(
    "overrides, message",
    [
        (["+exp=anb", "k=3", "data.target_per_class=0"], "data.target_per_class=0 is not a number of training images"),
        (["+exp=anb", "k=3", "data.target_per_class=-5"], "data.target_per_class=-5 is not a number"),
        (["+exp=anb", "k=3", "data.target_per_class=ten"], "data.target_per_class='ten' is not a number"),
        (["+exp=anb", "k=3", "data.target_per_class=2.5"], "is not a number of training images"),
        (["+exp=random_filters"], "k is required for \\+exp=random_filters"),
        (["+exp=random_filters", "k=8"], "k=8 is not a layer count for random filters"),
        (["+exp=random_filters", "k=3", "freeze=false"], "freeze=false with random filters is a base network"),
        (["run=randomC_k3"], "is not a run name"),
    ],
)
def test_bad_scarcity_and_random_filters_input_is_one_line(overrides, message):
    with pytest.raises(ConfigError, match=message) as err:
        spec(*overrides)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("override", ["seed=1", "split.seed=1", "half=A", "data.path=/elsewhere/af20.npz"])
def test_a_study_pools_seeds_split_seeds_and_the_runs_own_network(override):
    study = spec("+exp=base", "half=B").study
    assert spec("+exp=base", "half=B", override).study == study
    transfers = [spec("+exp=anb", "k=3"), spec("+exp=anb", "k=5", "freeze=false"), spec("+exp=bnb", "k=2")]
    assert [transfer.study for transfer in transfers] == [study] * 3


@pytest.mark.parametrize(
    "override", ["recipe.batch_size=64", "recipe.max_epochs=4", "model.net.dropout=0.3", "recipe=tiny"]
)
def test_every_setting_that_changes_training_makes_a_study_of_its_own(override):
    default, changed = spec("+exp=base", "half=B").study, spec("+exp=base", "half=B", override).study
    assert changed != default and changed.settings != default.settings and changed.wandb_group != default.wandb_group


def test_a_changed_setting_keeps_the_studys_names_and_its_scarce_studies_share_the_family():
    tiny = spec("+exp=base", "half=B", "recipe=tiny").study
    smaller = spec("+exp=base", "half=B", "recipe=tiny", "recipe.batch_size=32").study
    assert tiny.name == smaller.name == "animalfashion-random-alexnet_small-tiny" and tiny != smaller
    scarce = spec("+exp=anb", "k=3", "data.target_per_class=10").study
    assert scarce.target_per_class == 10 and scarce.name.endswith("-n10")
    assert scarce.family == spec("+exp=anb", "k=3").study
