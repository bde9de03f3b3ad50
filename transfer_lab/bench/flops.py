"""Training FLOP per image and model FLOP utilisation (MFU) over a device's bf16 peak."""

import torch
from torch.utils.flop_counter import FlopCounterMode

# Dense bf16 tensor-core peaks from the vendors' data sheets, TFLOP/s; the first name found in the
# device's name wins (H100 PCIe before H100 SXM's "H100").
PEAK_BF16_TFLOPS = {"H100 PCIe": 756.0, "H100": 989.0, "H200": 989.0, "A100": 312.0}


def layer_forward_flops(net, channels: int, crop_size: int) -> list[int]:
    """FLOP of each layer's forward pass on one image, counted by torch's FlopCounterMode (its backward
    count is not used, as it counts grouped convolutions' gradients twice)."""
    x = torch.zeros(1, channels, crop_size, crop_size, device=next(net.parameters()).device)
    forward = []
    with torch.no_grad():
        for layer in net.children():
            counter = FlopCounterMode(display=False)
            with counter:
                x = layer(x)
            forward.append(counter.get_total_flops())
    return forward


def training_gflop_per_image(module, channels: int, crop_size: int) -> float:
    """GFLOP of one training step per image: forward through every layer, backward (weight and input
    gradients, 2x forward) through the trainable ones, less the input gradient of the first trainable
    layer (nothing below it needs one). A fused group of frozen transfers (run/fused.py, `members`,
    `starts`): the layers below the networks' own starts run once for all of them."""
    if hasattr(module, "members"):
        forward = layer_forward_flops(module.members[0].net, channels, crop_size)
        own = sum(
            training_flops(forward, member.frozen_layers) - sum(forward[:start])
            for member, start in zip(module.members, module.starts)
        )
        return (own + sum(forward[: max(module.starts)])) / 1e9
    return training_flops(layer_forward_flops(module.net, channels, crop_size), module.frozen_layers) / 1e9


def training_flops(forward: list[int], frozen_layers: int) -> int:
    trainable = forward[frozen_layers:]
    return sum(forward) + 2 * sum(trainable) - trainable[0]


def peak_bf16_tflops(name: str) -> float | None:
    return next((peak for key, peak in PEAK_BF16_TFLOPS.items() if key in name), None)


def utilisation(images_per_s: float, gflop_per_image: float, peak_tflops: float | None) -> float | None:
    return round(images_per_s * gflop_per_image / (peak_tflops * 1e3), 4) if peak_tflops else None
