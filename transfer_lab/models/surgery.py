"""Transfer surgery: copy the first k layers of a base network into a new one, and freeze them.

This is the whole of the paper's XnY construction: layers 1..k come from the base network of
half X, layers k+1..8 keep their fresh initialisation and are trained on half Y.
"""

import torch
from torch import nn

from transfer_lab.models.alexnet import LAYER_NAMES


def copy_layers(net: nn.Module, base_state: dict[str, torch.Tensor], k: int) -> None:
    """Overwrite layers 1..k of `net` with the base network's weights (fc8 is never copied)."""
    layer_names = LAYER_NAMES[:k]
    wanted = {key: value for key, value in base_state.items() if key.split(".")[0] in layer_names}
    missing = [n for n in layer_names if f"{n}.weight" not in wanted]
    if missing:
        raise ValueError(f"the base network has no weights for {missing}")
    net.load_state_dict(wanted, strict=False)


def freeze_layers(net: nn.Module, k: int) -> None:
    """Layers 1..k get no gradient (and, left out of the optimiser, no weight decay)."""
    for name in LAYER_NAMES[:k]:
        getattr(net, name).requires_grad_(False)


def frozen_prefix(net: nn.Module) -> int:
    """How many leading layers take no gradient: the part of the forward pass that can run without
    autograd (TransferModule.layers). Read from the parameters, so it always agrees with freeze_layers."""
    count = 0
    for name in LAYER_NAMES:
        if any(p.requires_grad for p in getattr(net, name).parameters()):
            break
        count += 1
    return count


def trainable_parameters(net: nn.Module) -> tuple[list[nn.Parameter], list[nn.Parameter]]:
    """(weights, biases) that train: biases get their own lr multiplier and no weight decay."""
    weights, biases = [], []
    for name, param in net.named_parameters():
        if param.requires_grad:
            (biases if name.endswith("bias") else weights).append(param)
    return weights, biases
