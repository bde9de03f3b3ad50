"""The random-filters control through the real CLI: layers 1..k stay at their random initialisation."""

import json
from pathlib import Path

import pytorch_lightning as pl
import torch
from conftest import ONE_WORKER, QUICK
from hydra.utils import instantiate
from omegaconf import OmegaConf

from transfer_lab.models.alexnet import LAYER_NAMES


def run_of(root: Path, series: str) -> Path:
    (found,) = [p.parent for p in root.glob("runs/**/result.json") if json.loads(p.read_text())["series"] == series]
    return found


def weights(run_dir: Path) -> dict[str, torch.Tensor]:
    state = torch.load(run_dir / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)["state_dict"]
    return {key.removeprefix("net."): value for key, value in state.items() if key.startswith("net.")}


def initial_weights(run_dir: Path) -> dict[str, torch.Tensor]:
    """The network as the run built it, before training: same seed, same config."""
    cfg = OmegaConf.load(run_dir / ".hydra" / "config.yaml")
    pl.seed_everything(json.loads((run_dir / "result.json").read_text())["rng_seed"], verbose=False)
    return instantiate(cfg.model.net, num_classes=20).state_dict()


def test_random_filters_stay_at_their_init_on_all_classes_and_are_reported(cli, root):
    done = cli("-m", "+exp=random_filters_grid", "run=baseA,randomA_k3", ONE_WORKER, *QUICK, root=root)
    assert done.returncode == 0, done.stderr[-3000:]

    random_dir, normal_dir = run_of(root, "randomA"), run_of(root, "baseA")
    result = json.loads((random_dir / "result.json").read_text())
    assert (result["exp"], result["k"], result["freeze"], result["split"]) == ("random", 3, True, "all")
    assert result["n_classes"] == 20 and result["n_val_images"] == 4000 and result["base_checkpoint"] is None

    trained, init, normal = weights(random_dir), initial_weights(random_dir), weights(normal_dir)
    for name in LAYER_NAMES:
        key = f"{name}.weight"
        if name in LAYER_NAMES[:3]:
            assert torch.equal(trained[key], init[key]) and torch.equal(
                trained[f"{name}.bias"], init[f"{name}.bias"]
            ), name
            assert not torch.equal(trained[key], normal[key]), f"{name} equals the trained network's"
        else:
            assert not torch.equal(trained[key], init[key]), f"{name} did not train"
    assert not list(root.glob("bases/random*")), "a random-filters network is no base network"

    report = root / "reports" / "animalfashion-all-random_filters"
    assert (report / "random_filters.png").stat().st_size > 0
    text = (report / "report.md").read_text()
    assert "| randomA |" in text and "| baseA |" in text
