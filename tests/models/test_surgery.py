import copy

import pytest
import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf

from transfer_lab.data.augment import DeviceAugment
from transfer_lab.models.alexnet import LAYER_NAMES, AlexNet
from transfer_lab.models.module import TransferModule
from transfer_lab.models.surgery import copy_layers

SMALL = dict(
    in_channels=1,
    input_size=28,
    widths=[16, 32, 48, 48, 32, 64, 64],
    kernels=[5, 5, 3, 3, 3],
    strides=[1] * 5,
    paddings=[2, 2, 1, 1, 1],
    init="kaiming",
)
SGD = OmegaConf.create(
    {"_target_": "torch.optim.SGD", "_partial_": True, "lr": 0.05, "momentum": 0.9, "weight_decay": 5e-4}
)


def transferred_module(k: int, freeze: bool):
    torch.manual_seed(0)
    base = AlexNet(num_classes=10, **SMALL)
    torch.manual_seed(1)
    net = AlexNet(num_classes=10, **SMALL)
    copy_layers(net, base.state_dict(), k)
    module = TransferModule(
        net=net,
        augment=DeviceAugment(torch.zeros(1, 28, 28), 1 / 128, crop_size=28, pad=2),
        optimizer=instantiate(SGD),
        bias_lr_mult=2.0,
        frozen_layers=k if freeze else 0,
    )
    return base, module


def train_steps(module, steps=3):
    optimizer = module.configure_optimizers()
    torch.manual_seed(2)
    for _ in range(steps):
        images = torch.randint(0, 256, (16, 1, 28, 28), dtype=torch.uint8)
        labels = torch.randint(0, 10, (16,))
        loss = torch.nn.functional.cross_entropy(module(module.augment(images, train=True)), labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()


def same(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    return all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))


@pytest.mark.parametrize("k", [1, 3, 5, 7])
def test_frozen_layers_stay_bit_identical_to_the_base(k):
    base, module = transferred_module(k, freeze=True)
    before = copy.deepcopy(module.net)
    train_steps(module)
    for i, name in enumerate(LAYER_NAMES):
        layer, base_layer = getattr(module.net, name), getattr(base, name)
        if i < k:
            assert same(layer, base_layer), f"{name} changed although frozen"
            assert all(p.grad is None for p in layer.parameters()), f"{name} received a gradient"
        else:
            assert not same(layer, base_layer), f"{name} was copied although above k"
            assert not same(layer, getattr(before, name)), f"{name} did not train"


@pytest.mark.filterwarnings("ignore:Full backward hook is firing")
def test_no_backward_runs_through_frozen_layers():
    _, module = transferred_module(3, freeze=True)
    calls = []
    for name in LAYER_NAMES:
        getattr(module.net, name).register_full_backward_hook(lambda m, gi, go, name=name: calls.append(name))
    train_steps(module, steps=1)
    assert calls and not set(calls) & {"conv1", "conv2", "conv3"}
    assert "conv4" in calls


def test_fine_tuned_copied_layers_start_at_the_base_and_move():
    base, module = transferred_module(3, freeze=False)
    for name in LAYER_NAMES[:3]:
        assert same(getattr(module.net, name), getattr(base, name))
    train_steps(module)
    for name in LAYER_NAMES:
        assert not same(getattr(module.net, name), getattr(base, name)), f"{name} did not move"


def test_frozen_layers_are_left_out_of_the_optimiser_and_biases_get_double_lr():
    _, module = transferred_module(5, freeze=True)
    optimizer = module.configure_optimizers()
    in_optimizer = {id(p) for group in optimizer.param_groups for p in group["params"]}
    for name in LAYER_NAMES:
        for p in getattr(module.net, name).parameters():
            assert (id(p) in in_optimizer) == (name not in LAYER_NAMES[:5])
    weights, biases = optimizer.param_groups
    assert biases["lr"] == 2 * weights["lr"] and biases["weight_decay"] == 0.0
    assert weights["weight_decay"] == 5e-4


def test_frozen_dropout_stays_active_in_training():
    _, module = transferred_module(7, freeze=True)
    module.train()
    x = torch.ones(4, 1, 28, 28)
    torch.manual_seed(0)
    a = module(x)
    torch.manual_seed(1)
    b = module(x)
    assert not torch.equal(a, b)  # fc6/fc7 dropout draws differ although both layers are frozen
