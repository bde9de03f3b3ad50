"""Input pipeline on the device: uint8 batches in, normalised float crops out.

Batches cross to the device as uint8 (4x less traffic than float32); everything else happens
there: mean-image subtraction, scaling, random crop + mirror for training, centre crop for
validation. The mean image is a buffer of the network, so a transferred network keeps
subtracting its source's mean (as the paper's Caffe networks do) and checkpoints carry it.
"""

import torch
from torch import nn
from torch.nn import functional as F


class DeviceAugment(nn.Module):
    """seed: seeds the crops and mirrors (RunSpec.data_seed), drawn from a generator of their own so
    that they do not depend on what else draws random numbers (dropout); None: torch's global RNG."""

    def __init__(
        self, mean_image: torch.Tensor, pixel_scale: float, crop_size: int, pad: int = 0, seed: int | None = None
    ):
        super().__init__()
        self.register_buffer("mean_image", mean_image.float().clone())
        self.pixel_scale = pixel_scale
        self.crop_size = crop_size
        self.pad = pad
        self.seed = seed
        self.generator: torch.Generator | None = None
        self.resumed_state: dict | None = None  # a checkpoint's draws, taken up by the first training batch

    def draws(self, device: torch.device) -> torch.Generator | None:
        """The crops' generator, made on the device of the first batch (a generator lives on one device)."""
        if self.seed is None:
            return None
        if self.generator is None or self.generator.device != device:
            self.generator = torch.Generator(device=device).manual_seed(self.seed)
            resumed, self.resumed_state = self.resumed_state, None
            if resumed is not None and resumed["device"] == device.type:  # a CUDA stream does not go on on the CPU
                self.generator.set_state(resumed["state"])
        return self.generator

    def draws_state(self) -> dict | None:
        """Where the crops' and mirrors' draws are, for a checkpoint (None: none drawn yet)."""
        if self.generator is None:
            return self.resumed_state
        return {"device": self.generator.device.type, "state": self.generator.get_state()}

    def resume_draws(self, state: dict | None) -> None:
        self.generator, self.resumed_state = None, state

    def forward(self, images: torch.Tensor, train: bool) -> torch.Tensor:
        x = (images.float() - self.mean_image) * self.pixel_scale
        if self.pad:
            x = F.pad(x, (self.pad,) * 4)
        n, _, h, w = x.shape
        c = self.crop_size
        if not train:
            top, left = (h - c) // 2, (w - c) // 2
            return x[:, :, top : top + c, left : left + c]
        # One random crop offset and mirror per image, gathered in a single indexing op.
        generator = self.draws(x.device)
        top = torch.randint(0, h - c + 1, (n, 1), device=x.device, generator=generator)
        left = torch.randint(0, w - c + 1, (n, 1), device=x.device, generator=generator)
        steps = torch.arange(c, device=x.device)
        rows = top + steps
        cols = left + steps
        mirror = torch.rand(n, 1, device=x.device, generator=generator) < 0.5
        cols = torch.where(mirror, cols.flip(1), cols)
        batch = torch.arange(n, device=x.device)[:, None, None]
        crops = x.permute(0, 2, 3, 1)[batch, rows[:, :, None], cols[:, None, :]]
        return crops.permute(0, 3, 1, 2)  # NCHW view of NHWC memory: channels-last for free, the network decides
