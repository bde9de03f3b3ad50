"""Learning: short runs through the real code (study.run, as the CLI runs them) on the embedded
AnimalFashion-20 data must clear floors far above chance (10%: a half has 10 classes). A base network,
a frozen transfer, a fine-tuned transfer and a linear probe, all from one base A trained here.

Floors: set well below the top-1 measured (docs/testing.md has the numbers) and well above what the
broken variants reached, checked by hand: labels cut from their images (every training label
replaced by its batch neighbour's: near chance, below every floor). Random layers 1..k learn far
above chance on this data too, so "the copied layers not copied" and "the frozen layers not frozen"
are caught by the layer checks below, not by the floors.
"""

import pytest
import torch
from conftest import spec_of

from transfer_lab import study
from transfer_lab.models.alexnet import LAYER_NAMES

pytestmark = pytest.mark.slow  # four networks trained (in this process, ~1 min of CPU)

SEED = 0
# Batches of 32, 100 steps: ~0.4 of an epoch of a half. Every run has the same recipe: a transfer's base
# network is the base of its own recipe, so that all of them find the one base A trained first.
STEPS = 100
K = 3  # layers copied from base A: conv1-3
FLOORS = {"base": 0.35, "frozen": 0.35, "fine-tuned": 0.35, "probe": 0.6}
SHORT = [
    "recipe=tiny",
    f"recipe.max_steps={STEPS}",
    "recipe.max_epochs=100",
    "recipe.val_check_interval=null",
    "recipe.batch_size=32",
    "trainer.enable_progress_bar=false",
    "logger=none",
]


def run(root, *overrides: str) -> dict:
    """study.run of these overrides in its run folder under `root`, as the CLI runs it; its result record."""
    spec = spec_of(*overrides, f"seed={SEED}", f"paths.root={root}", *SHORT)
    return study.run(spec, root / "runs" / spec.run_name)


@pytest.fixture(scope="module")
def learned(tmp_path_factory) -> dict:
    """Base A trained here; the frozen and fine-tuned transfers and the probe from it: {name: result}."""
    root = tmp_path_factory.mktemp("learning")
    results = {"base": run(root, "+exp=base", "half=A")}
    results["frozen"] = run(root, "+exp=anb", f"k={K}", "freeze=true")
    results["fine-tuned"] = run(root, "+exp=anb", f"k={K}", "freeze=false")
    results["probe"] = run(root, "+exp=probe", f"k={K}", "probe.epochs=3")
    return results


def frozen_layers_of(result: dict) -> dict[str, torch.Tensor]:
    """Layers 1..K of the network a transfer ended with (its last checkpoint)."""
    state = torch.load(f"{result['run_dir']}/checkpoints/last.ckpt", map_location="cpu", weights_only=False)[
        "state_dict"
    ]
    return {
        key.removeprefix("net."): value
        for key, value in state.items()
        if key.startswith("net.") and key.split(".")[1] in LAYER_NAMES[:K]
    }


@pytest.mark.parametrize("name", FLOORS)
def test_each_network_learns_far_above_chance(learned, name):
    result = learned[name]
    assert result["n_classes"] == 10 and result["n_val_images"] == 2000
    assert result["val_top1"] >= FLOORS[name], f"{name}: top-1 {result['val_top1']:.3f} < floor {FLOORS[name]}"


def test_the_frozen_transfer_keeps_the_bases_layers(learned):
    base = torch.load(learned["frozen"]["base_checkpoint"], map_location="cpu", weights_only=True)["net"]
    layers = frozen_layers_of(learned["frozen"])
    assert learned["frozen"]["base_checkpoint"] == learned["base"]["base_checkpoint"]  # the base trained here
    assert layers and all(torch.equal(value, base[key]) for key, value in layers.items())


def test_the_fine_tuned_transfer_starts_from_the_bases_layers_and_moves_them(learned):
    base = torch.load(learned["fine-tuned"]["base_checkpoint"], map_location="cpu", weights_only=True)["net"]
    moved = frozen_layers_of(learned["fine-tuned"])
    assert moved and any(not torch.equal(value, base[key]) for key, value in moved.items())  # fine-tuning moved them
    # ... not far: 100 steps move a weight little against its size, and an independent init is ~1.4 sizes away.
    for key, value in moved.items():
        if key.endswith("weight"):
            assert (value - base[key]).norm() < 0.5 * base[key].norm(), f"{key} is not the base's, fine-tuned"
