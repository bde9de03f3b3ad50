import torch

from transfer_lab.data.augment import DeviceAugment


def images(n=8, size=28):
    return torch.randint(0, 256, (n, 1, size, size), dtype=torch.uint8)


def test_validation_is_the_centre_crop_of_the_mean_subtracted_image():
    x = images()
    mean = torch.full((1, 28, 28), 100.0)
    out = DeviceAugment(mean, pixel_scale=0.5, crop_size=28, pad=2)(x, train=False)
    assert torch.equal(out, (x.float() - 100.0) * 0.5)


def test_paper_geometry_centre_crop_227_of_256():
    x = images(2, 256).expand(2, 3, 256, 256).contiguous()
    out = DeviceAugment(torch.zeros(3, 256, 256), 1.0, crop_size=227)(x, train=False)
    assert torch.equal(out, x[:, :, 14:241, 14:241].float())


def test_training_crops_are_shifted_or_mirrored_windows_of_the_padded_image():
    torch.manual_seed(0)
    x = images(64)
    aug = DeviceAugment(torch.zeros(1, 28, 28), 1.0, crop_size=28, pad=2)
    out = aug(x, train=True)
    assert out.shape == (64, 1, 28, 28)
    padded = torch.nn.functional.pad(x.float(), (2, 2, 2, 2))
    windows = {(top, left, flip) for top in range(5) for left in range(5) for flip in (False, True)}
    seen = set()
    for i in range(64):
        for top, left, flip in windows:
            crop = padded[i, :, top : top + 28, left : left + 28]
            if torch.equal(out[i], crop.flip(-1) if flip else crop):
                seen.add((top, left, flip))
                break
        else:
            raise AssertionError(f"image {i} is not a crop of its padded input")
    assert len(seen) > 10  # offsets and mirroring vary per image
    assert {flip for *_, flip in seen} == {False, True}
