"""Linear probes through the real CLI: frozen base layers bit-identical, a run like any other, bad input one line."""

import json

import pytest
import torch
from conftest import ONE_WORKER, input_error, only
from conftest import spec_of as spec
from hydra.utils import instantiate
from omegaconf import OmegaConf

from transfer_lab.data.registry import target_half
from transfer_lab.run import probe
from transfer_lab.run.probe import layers_digest, train_probe
from transfer_lab.run.store import BaseNetwork
from transfer_lab.runname import parse_run


def test_probe_names_and_keys():
    s = spec("+exp=probe", "k=3")
    assert (s.kind, s.source, s.target, s.k, s.freeze, s.series) == ("probe", "A", "B", 3, True, "probeAnB")
    assert s.run_name.startswith("animalfashion/random-s0/probeAnB_k3/")
    assert s.base_spec("A").config_hash == spec("+exp=base", "half=A").config_hash  # the transfers' base A
    assert parse_run("probeBnA_k5") == {
        "kind": "probe",
        "half": None,
        "source": "B",
        "target": "A",
        "k": 5,
        "freeze": True,
    }
    assert spec("+exp=probe", "k=3", "probe.lr=0.01").config_hash != s.config_hash  # probe settings are hashed
    assert spec("+exp=probe_grid", "run=probeAnB_k3").config_hash == s.config_hash


def test_a_probe_trains_on_frozen_base_layers_and_is_done_on_rerun(cli, root):
    done = cli("+exp=probe", "k=2", "probe.epochs=2", root=root)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(only("runs/animalfashion/random-s0/probeAnB_k2/*/result.json", root).read_text())
    assert (result["exp"], result["series"], result["k"], result["freeze"], result["target"]) == (
        "probe",
        "probeAnB",
        2,
        True,
        "B",
    )
    assert result["n_val_images"] == 2000 and 0.0 <= result["val_top1"] <= 1.0 and result["probe_layer"] == "conv2"
    assert result["probe_features"] == 32 * 6 * 6  # conv2's map (32 x 6 x 6) fits max_features: not pooled
    assert (only("runs/**/probeAnB_k2/*/probe.pt", root)).stat().st_size > 0

    # The frozen layers after training are the stored base's, bit for bit.
    base = torch.load(result["base_checkpoint"], weights_only=True)
    cfg = OmegaConf.load(only("runs/**/probeAnB_k2/*/.hydra/config.yaml", root))
    assert frozen_layers_are_the_bases(result, cfg.model.net, base["net"], k=2)
    untrained = instantiate(cfg.model.net, num_classes=10).state_dict()
    assert not frozen_layers_are_the_bases(result, cfg.model.net, untrained, 2)

    again = cli("+exp=probe", "k=2", "probe.epochs=2", root=root)
    assert again.returncode == 0 and "already done" in again.stderr and "top-1" in again.stderr

    grid = cli(
        "-m",
        "+exp=probe_grid",
        "run=probeAnB_k2,probeAnB_k7",
        "probe.max_features=256",
        "probe.epochs=2",
        ONE_WORKER,
        root=root,
    )
    assert grid.returncode == 0, grid.stderr[-3000:]
    assert "2 done, 0 failed, 0 left" in grid.stderr
    assert (root / "reports" / "animalfashion-random" / "similarity.png").stat().st_size > 0
    pooled = [
        json.loads(p.read_text())
        for p in root.glob("runs/**/probeAnB_k2/*/result.json")
        if json.loads(p.read_text())["probe"]["max_features"] == 256
    ]
    assert pooled[0]["probe_features"] == 32 * 2 * 2  # average-pooled to the 2 x 2 grid that fits 256


def frozen_layers_are_the_bases(result: dict, net_config, base_state: dict, k: int) -> bool:
    """Whether the probe's layers 1..k after training (their digest in its result) are the base's, bit for bit."""
    net = instantiate(net_config, num_classes=base_state["fc8.weight"].shape[0])
    net.load_state_dict(base_state)
    return result["frozen_layers_sha256"] == layers_digest(net, k)


@pytest.mark.slow  # two probes' features computed
def test_the_frozen_layer_check_fails_for_a_probe_that_trains_its_layers(tmp_path, monkeypatch):
    s = spec("+exp=probe", "k=2", "probe.epochs=1", "data.target_per_class=20", f"paths.root={tmp_path}")  # 200 images
    torch.manual_seed(0)
    net = instantiate(s.model["net"], num_classes=10)  # an untrained base: the layers' values do not matter here
    base = BaseNetwork(tmp_path / "base", net.state_dict(), target_half(s.base_spec("A"))[2].mean_image(), {})
    assert frozen_layers_are_the_bases(train_probe(s, tmp_path / "probe", base), s.model["net"], net.state_dict(), 2)

    features = probe.frozen_features

    def features_of_trained_layers(net, augment, images, labels, k, *args):
        # Broken: the optimizer also holds layers 1..k and steps them on a loss of the network's output.
        net.requires_grad_(True)
        optimizer = torch.optim.SGD(net.parameters(), lr=0.01)
        with torch.enable_grad():
            net(augment(torch.as_tensor(images[list(range(16))]), train=False)).logsumexp(1).mean().backward()
        optimizer.step()
        return features(net, augment, images, labels, k, *args)

    monkeypatch.setattr(probe, "frozen_features", features_of_trained_layers)
    broken = train_probe(s, tmp_path / "broken", base)
    assert not frozen_layers_are_the_bases(broken, s.model["net"], net.state_dict(), 2)


@pytest.mark.parametrize(
    "overrides, message",
    [
        (["k=8"], "k=8 is not a layer count for a probe: use an integer 1..7"),
        (["k=0"], "k=0 is not a layer count for a probe"),
        (["k=3", "freeze=false"], "a probe's layers are always frozen"),
        (["k=3", "probe.epochs=0"], "probe.epochs=0: use a positive integer"),
    ],
)
def test_bad_probe_input_is_refused_with_one_line(overrides, message):
    assert message in input_error("+exp=probe", *overrides)


def test_a_probe_without_its_base_network_is_one_line_when_told_not_to_train_it(cli, root):
    done = cli("+exp=probe", "k=3", "auto_base=false", root=root)
    assert done.returncode == 2, done.stderr[-2000:]
    assert "no base network baseA in" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
