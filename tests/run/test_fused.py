"""run/fused.py: frozen transfers trained side by side end with the weights each gets alone, and a
network that diverges fails alone: the others end as they would have without it."""

import json

import pytest
import torch
from hydra.utils import instantiate

from tests.conftest import spec_of
from transfer_lab.data.registry import target_half
from transfer_lab.run import fused as fused_module
from transfer_lab.run.fit import train
from transfer_lab.run.fused import group_folder, train_fused
from transfer_lab.run.store import BaseNetwork, BaseStore

# 2 epochs of 4 batches (the order is redrawn at the boundary), the lr falling to 0 over the 8 steps, the final
# validation on 2 batches; the divergence check every 2 steps.
SHORT = [
    "recipe.max_steps=8",
    "recipe.batch_size=16",
    "recipe.val_check_interval=null",
    "trainer.log_every_n_steps=2",
    "+trainer.limit_train_batches=4",
    "trainer.limit_val_batches=2",
    "trainer.enable_progress_bar=false",
    "logger=none",
]
pytestmark = pytest.mark.slow  # networks trained for 8 steps, alone and side by side
KS = (
    1,
    7,
)  # conv layers shared; k=7: fc6 shared up to its dropout, then fc7 frozen behind a dropout of each network's own


def weights(checkpoint, prefix: str) -> dict[str, torch.Tensor]:
    state = torch.load(checkpoint, map_location="cpu", weights_only=False)["state_dict"]
    return {key.removeprefix(prefix): value for key, value in state.items() if key.startswith(prefix)}


@pytest.fixture(scope="module")
def alone(tmp_path_factory):
    """The networks k in KS, each trained alone from one (untrained) base: (root, base, net, {k: result})."""
    root = tmp_path_factory.mktemp("fused")
    specs = [spec_of("+exp=anb", f"k={k}", "freeze=true", f"paths.root={root}", *SHORT) for k in KS]
    base_spec = specs[0].base_spec("A")
    torch.manual_seed(0)
    net = instantiate(
        base_spec.model["net"], num_classes=10
    )  # an untrained base: the layers' values do not matter here
    base = BaseNetwork(root / "base", net.state_dict(), target_half(base_spec)[2].mean_image(), {})
    results = {spec.k: train(spec, root / "alone" / str(spec.k), BaseStore(root), base, None) for spec in specs}
    return root, base, net, results


def assert_as_alone(root, members, together, net, alone) -> None:
    """Each network k in KS of the group ended with the weights and top-1 it has when trained alone, bit for bit."""
    fused = group_folder(members) / "checkpoints" / "last.ckpt"
    for i, (spec, _) in enumerate(members):
        if spec.k not in KS:
            continue
        own = weights(root / "alone" / str(spec.k) / "checkpoints" / "last.ckpt", "net.")
        shared = weights(fused, f"members.{i}.net.")
        assert own.keys() == shared.keys() and own
        for key in own:
            assert torch.equal(own[key], shared[key]), f"k={spec.k}: {key} differs"
        assert not torch.equal(own["fc8.weight"], net.fc8.weight)  # the networks trained
        assert together[spec.k]["val_top1"] == alone[spec.k]["val_top1"]
        assert together[spec.k]["steps"] == alone[spec.k]["steps"] == 8


def test_frozen_transfers_trained_side_by_side_equal_each_trained_alone_bit_for_bit(alone):
    root, base, net, results = alone
    members = [
        (spec_of("+exp=anb", f"k={k}", "freeze=true", f"paths.root={root}", *SHORT), root / "fused" / str(k))
        for k in KS
    ]
    together = {result["k"]: result for result in train_fused(members, base, None)}
    assert_as_alone(root, members, together, net, results)
    for k in KS:
        assert together[k]["trained_with"] == [f"AnB_k{other}" for other in KS if other != k]


def test_a_diverging_network_fails_alone_and_the_others_end_as_without_it(alone, monkeypatch):
    root, base, net, results = alone
    build = fused_module.build_module

    def build_with_a_nan_in_k4(spec, *args, **kwargs):  # from its 4th training step on, network k=4's logits are NaN
        module = build(spec, *args, **kwargs)
        if spec.k == 4:
            layers, steps = module.layers, []

            def poisoned(x, start):
                steps.extend([1] if module.training else [])
                return layers(x, start) * (float("nan") if len(steps) >= 4 else 1.0)

            module.layers = poisoned
        return module

    monkeypatch.setattr(fused_module, "build_module", build_with_a_nan_in_k4)
    ks = (1, 4, 7)
    members = [
        (spec_of("+exp=anb", f"k={k}", "freeze=true", f"paths.root={root}", *SHORT), root / "nan" / str(k)) for k in ks
    ]
    together = {result["k"]: result for result in train_fused(members, base, None)}

    assert sorted(together) == [1, 7]
    assert_as_alone(root, members, together, net, results)
    assert together[1]["diverged_alongside"] == ["AnB_k4"]
    failed = json.loads((root / "nan" / "4" / "failed.json").read_text())
    assert failed["status"] == "failed" and failed["error"].startswith("TrainingDiverged")
    assert (failed["series"], failed["k"]) == ("AnB", 4)
    # As a run trained alone: the first bad step (4: the 4th step runs at global_step 3), found at the next check.
    assert (failed["diverged_at_step"], failed["stopped_at_step"], failed["last_finite_step"]) == (4, 4, 3)
    assert not (root / "nan" / "4" / "result.json").exists()
