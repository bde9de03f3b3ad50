"""Input pipeline on the device: uint8 batches in, normalised float crops out.

Batches cross to the device as uint8 (4x less traffic than float32); everything else happens
there: random crop + mirror for training, centre crop for validation, mean-image subtraction and
scaling. The crop comes first, from the uint8 images and the mean image alike, so that only the
crops become float: by arithmetic ~1.2 instead of ~1.4 GB of device memory traffic for a batch of 256
ImageNet crops (227 of 256 px); ~16% less CPU time for the embedded data's (docs/benchmark.md). Bitwise the
same crops as converting first: each pixel's arithmetic is unchanged, and the zero padding of the
images and of the mean subtracts to 0, the padding value.
The mean image is a buffer of the network, so a transferred network keeps subtracting its source's
mean (as the paper's Caffe networks do) and checkpoints carry it.
"""

import torch
from torch import nn
from torch.nn import functional as F


class DeviceAugment(nn.Module):
    """seed: seeds the crops and mirrors (RunSpec.data_seed), drawn from a generator of their own so
    that they do not depend on what else draws random numbers (dropout); None: torch's global RNG.
    compile: training crops cut by torch.compile (the draws stay eager), as the network is when
    model.compile is on (run/build.py): two kernels from uint8 images to float crops instead of ten (the
    images stacked with their mirror images; the gather, subtraction and scaling fused), by arithmetic ~0.4
    instead of ~1.2 GB of device memory traffic for a batch of 256 ImageNet crops."""

    def __init__(
        self,
        mean_image: torch.Tensor,
        pixel_scale: float,
        crop_size: int,
        pad: int = 0,
        seed: int | None = None,
        compile: bool = False,
    ):
        super().__init__()
        self.register_buffer("mean_image", mean_image.float().clone())
        self.pixel_scale = pixel_scale
        self.crop_size = crop_size
        self.pad = pad
        # What the training crops take of the mean image: padded, channels last, beside its mirror image. Derived
        # from mean_image once (and again when a checkpoint loads it) instead of in every step.
        self.register_buffer("mirrored_mean", self.mirror_of_mean(), persistent=False)
        self.register_load_state_dict_post_hook(DeviceAugment.take_up_mean)
        self.cut = torch.compile(cut_crops, dynamic=False) if compile else cut_crops
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
        images = self.padded(images)
        n, _, h, w = images.shape
        c = self.crop_size
        if not train:
            top, left = (h - c) // 2, (w - c) // 2
            centre = (..., slice(top, top + c), slice(left, left + c))
            # (uint8 crops - mean) x pixel_scale in float32: per pixel, the arithmetic of the training crops. The
            # mean padded here, not taken from mirrored_mean: its channels-last memory against NCHW images made
            # this 1.4-4x slower for 64 images of 3 x 64 px (459-1,251 against 314 us, one thread).
            return torch.sub(images[centre], self.padded(self.mean_image)[centre]).mul_(self.pixel_scale)
        # One random crop offset and mirror per image (drawn in this order: checkpoints resume the stream).
        generator = self.draws(images.device)
        top = torch.randint(0, h - c + 1, (n,), device=images.device, generator=generator)
        left = torch.randint(0, w - c + 1, (n,), device=images.device, generator=generator)
        mirrored = torch.rand(n, device=images.device, generator=generator) < 0.5
        return self.cut(images, self.mirrored_mean, top, left, mirrored, c, self.pixel_scale)

    def mirror_of_mean(self) -> torch.Tensor:
        return with_mirror(self.padded(self.mean_image).movedim(0, -1))

    @staticmethod
    def take_up_mean(module: "DeviceAugment", incompatible_keys) -> None:
        module.mirrored_mean = module.mirror_of_mean()

    def padded(self, x: torch.Tensor) -> torch.Tensor:
        return F.pad(x, (self.pad,) * 4) if self.pad else x


def cut_crops(
    images: torch.Tensor,
    mirrored_mean: torch.Tensor,
    top: torch.Tensor,
    left: torch.Tensor,
    mirrored: torch.Tensor,
    size: int,
    scale: float,
) -> torch.Tensor:
    """The size x size crop of each uint8 image (N x C x H x W) at (top, left), mirrored where `mirrored`,
    minus the same crop of the mean (DeviceAugment.mirrored_mean), x scale: N x C x size x size float32,
    channels-last memory."""
    # A mirrored crop at `left` is the crop at w - size - left of the mirrored image: each image and the mean
    # are stacked with their mirror images, and every crop is one window of that stack, gathered in one op,
    # from N x H x W x C images (and the mean's H x W x C): the crops come out channels-last.
    side = mirrored.long()
    left = torch.where(mirrored, images.shape[-1] - size - left, left)
    batch = torch.arange(images.shape[0], device=images.device)
    crops = windows(with_mirror(images.movedim(1, -1)), size)[side, batch, top, left]
    crops = torch.sub(crops, windows(mirrored_mean, size)[side, top, left]).mul_(scale)
    return crops.movedim(-1, 1)  # NCHW view of NHWC memory: channels-last for free, the network decides


def with_mirror(x: torch.Tensor) -> torch.Tensor:
    """x (... x H x W x C) and its left-right mirror image, stacked along a new first dimension (contiguous)."""
    return torch.stack([x, x.flip(-2)])


def windows(x: torch.Tensor, size: int) -> torch.Tensor:
    """A view of every size x size window of x (... x H x W x C) as ... x top x left x size x size x C."""
    return x.unfold(-3, size, 1).unfold(-3, size, 1).movedim(-3, -1)
