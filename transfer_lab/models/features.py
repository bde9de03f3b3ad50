"""A stored base network as a feature extractor: its layers 1..k on centre crops, no dropout, no gradient.

Shared by the layer similarity (every layer of base A and base B on one image set) and the linear
probes (layer k of base A under a linear classifier).
"""

import math

import torch
from hydra.utils import instantiate
from torch import nn
from torch.nn import functional as F

from transfer_lab.data.augment import DeviceAugment


def stored_network(
    model: dict, data: dict, net_state: dict, mean_image: torch.Tensor, device: torch.device
) -> tuple[nn.Module, DeviceAugment]:
    """A base network from its stored weights, in eval mode (dropout off), and the input pipeline it
    was validated with: its own mean image, centre crops."""
    net = instantiate(model["net"], num_classes=net_state["fc8.weight"].shape[0])
    net.load_state_dict(net_state)
    net.requires_grad_(False)
    augment = DeviceAugment(mean_image, model["pixel_scale"], data["crop_size"], data["pad"])
    return net.eval().to(device), augment.to(device)


@torch.no_grad()
def layer_outputs(net: nn.Module, augment: DeviceAugment, images: torch.Tensor, layers: int) -> list[torch.Tensor]:
    """The outputs of layers 1..`layers` for a uint8 batch (conv maps as N x C x H x W)."""
    x = augment(images, train=False)
    outputs = []
    for layer in list(net.children())[:layers]:
        x = layer(x)
        outputs.append(x)
    return outputs


def pooled(x: torch.Tensor, max_features: int) -> torch.Tensor:
    """Flattened features, a conv map average-pooled to the largest square grid whose width
    (channels x grid^2) fits max_features; fully connected outputs as they are."""
    if x.dim() == 4:
        grid = max(1, min(x.shape[-1], math.isqrt(max_features // x.shape[1])))
        if grid < x.shape[-1]:
            x = F.adaptive_avg_pool2d(x, grid)
    return x.flatten(1)
