"""run/fused.py: frozen transfers trained side by side end with the weights each gets alone."""

import torch
from hydra.utils import instantiate

from tests.conftest import spec_of
from transfer_lab.data.registry import target_half
from transfer_lab.run.fit import train
from transfer_lab.run.fused import group_folder, train_fused
from transfer_lab.run.store import BaseNetwork, BaseStore

# 2 epochs of 4 batches (the order is redrawn at the boundary), the lr falling to 0 over the 8 steps, the final validation on 2 batches.
SHORT = ["recipe.max_steps=8", "recipe.batch_size=16", "recipe.val_check_interval=null",
         "+trainer.limit_train_batches=4", "trainer.limit_val_batches=2", "trainer.enable_progress_bar=false", "logger=none"]
KS = (1, 7)  # conv layers shared; k=7: fc6 shared up to its dropout, then fc7 frozen behind a dropout of each network's own


def weights(checkpoint, prefix: str) -> dict[str, torch.Tensor]:
    state = torch.load(checkpoint, map_location="cpu", weights_only=False)["state_dict"]
    return {key.removeprefix(prefix): value for key, value in state.items() if key.startswith(prefix)}


def test_frozen_transfers_trained_side_by_side_equal_each_trained_alone_bit_for_bit(tmp_path):
    specs = [spec_of("+exp=anb", f"k={k}", "freeze=true", f"paths.root={tmp_path}", *SHORT) for k in KS]
    base_spec = specs[0].base_spec("A")
    torch.manual_seed(0)
    net = instantiate(base_spec.model["net"], num_classes=10)  # an untrained base: the layers' values do not matter here
    base = BaseNetwork(tmp_path / "base", net.state_dict(), target_half(base_spec)[2].mean_image(), {})

    alone = {spec.k: train(spec, tmp_path / "alone" / str(spec.k), BaseStore(tmp_path), base, None) for spec in specs}
    members = [(spec, tmp_path / "fused" / str(spec.k)) for spec in specs]
    together = {result["k"]: result for result in train_fused(members, base, None)}

    fused = group_folder(members) / "checkpoints" / "last.ckpt"
    for i, spec in enumerate(specs):
        own = weights(tmp_path / "alone" / str(spec.k) / "checkpoints" / "last.ckpt", "net.")
        shared = weights(fused, f"members.{i}.net.")
        assert own.keys() == shared.keys() and own
        for key in own:
            assert torch.equal(own[key], shared[key]), f"k={spec.k}: {key} differs"
        assert not torch.equal(own["fc8.weight"], net.fc8.weight)  # the networks trained
        assert together[spec.k]["val_top1"] == alone[spec.k]["val_top1"]
        assert together[spec.k]["steps"] == alone[spec.k]["steps"] == 8
        assert together[spec.k]["trained_with"] == [f"AnB_k{k}" for k in KS if k != spec.k]
