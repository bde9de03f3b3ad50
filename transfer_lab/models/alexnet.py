"""CaffeNet, the eight-layer AlexNet of the study, and a small twin of it for 28-32 px images.

Each of the eight layers is one module named as in the paper (conv1 ... fc8) that owns its weight
and bias directly, so a state dict reads `conv3.weight`, `fc7.bias` like the authors' Caffe
blobs, and "the first k layers" is simply the first k children.
"""

from collections import OrderedDict

import torch
from torch import nn
from torch.nn import functional as F

LAYER_NAMES = ("conv1", "conv2", "conv3", "conv4", "conv5", "fc6", "fc7", "fc8")


class LocalResponseNorm(nn.Module):
    """Caffe's across-channel LRN, b = a / (k + alpha/size * sum of a^2 over `size` neighbouring channels)^beta.

    The same function as torch.nn.LocalResponseNorm (tests/models/test_alexnet.py checks values and
    gradients), computed by `LocalResponseNormFunction`: torch's version (avg_pool3d) and a sum of shifted
    channel slices spent 1.2-2.1 ms of a small net's 11-14 ms CPU step; this one 0.75 ms.
    """

    def __init__(self, size: int = 5, alpha: float = 1e-4, beta: float = 0.75, k: float = 1.0):
        super().__init__()
        self.size, self.alpha, self.beta, self.k = size, alpha, beta, k

    def forward(self, x):
        # fp32 under bf16 autocast too: the window sums squares of Caffe-scale activations
        with torch.autocast(x.device.type, enabled=False):
            return LocalResponseNormFunction.apply(x.float(), self.size, self.alpha, self.beta, self.k)


class LocalResponseNormFunction(torch.autograd.Function):
    """LRN with its gradient written out: a handful of whole-tensor operations each way.

    With s = k + alpha/size * W(a^2), W the sum over each channel's window, and b = a * s^-beta:
    da = g * s^-beta - 2 * alpha * beta / size * a * W'(g * b / s), W' the sum over the channels whose
    window holds the channel (W transposed). W and W' are one matrix product each over the channel axis.
    """

    @staticmethod
    def forward(ctx, x, size: int, alpha: float, beta: float, k: float):
        channels = torch.arange(x.shape[1], device=x.device)
        offset = channels[:, None] - channels[None, :]  # [j, c]: input channel j, output channel c
        window = ((offset >= -(size // 2)) & (offset <= (size - 1) // 2)).to(x.dtype)
        a = x.permute(0, 2, 3, 1)  # channels last: channels-last memory needs no copy
        s = torch.matmul(a * a, window * (alpha / size)).add_(k)
        scale = inverse_power(s, beta)
        ctx.save_for_backward(a, s, scale, window)
        ctx.constants = size, alpha, beta
        return (a * scale).permute(0, 3, 1, 2)

    @staticmethod
    def backward(ctx, grad):
        a, s, scale, window = ctx.saved_tensors
        size, alpha, beta = ctx.constants
        g = grad.permute(0, 2, 3, 1) * scale
        through_s = torch.matmul((g * a).div_(s), window.t() * (-2 * alpha * beta / size))
        return torch.addcmul(g, a, through_s).permute(0, 3, 1, 2), None, None, None, None


def inverse_power(s: torch.Tensor, beta: float) -> torch.Tensor:
    """s ** -beta; for CaffeNet's beta = 0.75 as rsqrt(s) * sqrt(rsqrt(s)), 3x faster than pow on a CPU."""
    if beta == 0.75:
        root = s.rsqrt()
        return root * root.sqrt()
    return s.pow(-beta)


class ConvLayer(nn.Conv2d):
    """Convolution -> ReLU, then optionally max-pool 3/2 and LRN (pool before LRN, as in CaffeNet)."""

    def __init__(self, in_ch, out_ch, kernel, stride=1, padding=0, groups=1, pool=False, lrn=False):
        super().__init__(in_ch, out_ch, kernel, stride=stride, padding=padding, groups=groups)
        self.pool = nn.MaxPool2d(3, 2) if pool else nn.Identity()
        self.lrn = LocalResponseNorm(5, alpha=1e-4, beta=0.75, k=1.0) if lrn else nn.Identity()

    def forward(self, x):
        # max-pool then ReLU is ReLU then max-pool, values and gradients alike (ReLU is monotonic),
        # with the ReLU on the pooled map: 4x fewer elements (conv1's ReLU backward was 12% of a CPU step).
        return self.lrn(F.relu(self.pool(super().forward(x)), inplace=True))

    signal = forward  # no random part: see FCLayer

    def noise(self, x):
        return x


class FCLayer(nn.Linear):
    """Fully connected -> ReLU -> dropout (fc6, fc7); `final=True` gives the bare classifier fc8.

    forward = noise(signal(x)): the deterministic part, then the random one (dropout), so that frozen
    transfers trained together can share a layer's signal and each draw its own dropout (run/fused.py).
    """

    def __init__(self, in_features, out_features, dropout=0.5, final=False):
        super().__init__(in_features, out_features)
        self.final = final
        self.dropout = nn.Identity() if final else nn.Dropout(dropout)

    def signal(self, x):
        x = super().forward(x.flatten(1))
        return x if self.final else F.relu(x, inplace=True)

    def noise(self, x):
        return self.dropout(x)

    def forward(self, x):
        return self.noise(self.signal(x))


class AlexNet(nn.Sequential):
    """Eight layers: five ConvLayers and three FCLayers, named conv1 ... fc8.

    widths: output channels of conv1-5 and units of fc6-7; kernels/strides/paddings of conv1-5;
    groups: of conv1-5 (CaffeNet splits conv2, conv4, conv5 in two); pools/lrns: which conv layers
    pool and normalise. `init="caffe"` uses the paper's Gaussian init (std 0.01, 0.005 for fc6-7;
    biases 0 or 1); `init="kaiming"` suits short recipes on small images.
    """

    def __init__(
        self,
        num_classes: int,
        in_channels: int = 3,
        input_size: int = 227,
        widths=(96, 256, 384, 384, 256, 4096, 4096),
        kernels=(11, 5, 3, 3, 3),
        strides=(4, 1, 1, 1, 1),
        paddings=(0, 2, 1, 1, 1),
        groups=(1, 2, 1, 2, 2),
        pools=(True, True, False, False, True),
        lrns=(True, True, False, False, False),
        dropout: float = 0.5,
        fc8_outputs: int | None = None,
        init: str = "caffe",
    ):
        if fc8_outputs is not None and fc8_outputs < num_classes:
            raise ValueError(f"model.fc8_outputs={fc8_outputs} is smaller than the {num_classes} classes of the task")
        layers, channels = OrderedDict(), in_channels
        for i in range(5):
            layers[f"conv{i + 1}"] = ConvLayer(
                channels, widths[i], kernels[i], strides[i], paddings[i], groups[i], pools[i], lrns[i]
            )
            channels = widths[i]
        with torch.no_grad():
            probe = torch.zeros(1, in_channels, input_size, input_size)
            for layer in layers.values():
                probe = layer(probe)
        layers["fc6"] = FCLayer(probe.numel(), widths[5], dropout)
        layers["fc7"] = FCLayer(widths[5], widths[6], dropout)
        # The paper keeps 1000 outputs in every network, also for 500-class halves.
        # Logits beyond num_classes exist only with fc8_outputs (paper: 1000); they stay in the softmax.
        layers["fc8"] = FCLayer(widths[6], fc8_outputs or num_classes, final=True)
        super().__init__(layers)
        self.num_classes = num_classes
        self.init = init
        for name in LAYER_NAMES:
            self.reset_layer(name)

    def reset_layer(self, name: str) -> None:
        """Fresh initialisation of one layer, by the network's init scheme."""
        layer = getattr(self, name)
        if self.init == "caffe":
            nn.init.normal_(layer.weight, 0.0, 0.005 if name in ("fc6", "fc7") else 0.01)
            nn.init.constant_(layer.bias, 0.0 if name in ("conv1", "conv3", "fc8") else 1.0)
        elif self.init == "kaiming":
            nn.init.kaiming_normal_(layer.weight, nonlinearity="linear" if name == "fc8" else "relu")
            nn.init.zeros_(layer.bias)
        else:
            raise ValueError(f"unknown model.init={self.init!r}; use 'caffe' or 'kaiming'")
