import pytest
import torch
from conftest import assert_close_fp32, fp32_tolerance

from transfer_lab.models.alexnet import LAYER_NAMES, AlexNet, LocalResponseNorm

SMALL = dict(
    in_channels=1,
    input_size=28,
    widths=[32, 64, 96, 96, 64, 256, 256],
    kernels=[5, 5, 3, 3, 3],
    strides=[1] * 5,
    paddings=[2, 2, 1, 1, 1],
    init="kaiming",
)


def test_caffenet_has_the_papers_layers_and_size():
    net = AlexNet(num_classes=500, fc8_outputs=1000)
    assert [name for name, _ in net.named_children()] == list(LAYER_NAMES)
    assert net.fc6.in_features == 256 * 6 * 6  # conv5 output of a 227 px image
    assert net.fc8.out_features == 1000
    assert sum(p.numel() for p in net.parameters()) == 60_965_224  # 58.9 M with 500 outputs
    assert net.conv2.groups == net.conv4.groups == net.conv5.groups == 2 and net.conv3.groups == 1
    assert list(net.state_dict())[:2] == ["conv1.weight", "conv1.bias"]


def test_caffenet_pools_before_lrn_in_conv1_and_conv2_only():
    net = AlexNet(num_classes=10)
    for name in ("conv1", "conv2"):
        assert isinstance(getattr(net, name).pool, torch.nn.MaxPool2d)
        assert isinstance(getattr(net, name).lrn, LocalResponseNorm)
    assert isinstance(net.conv5.pool, torch.nn.MaxPool2d) and isinstance(net.conv5.lrn, torch.nn.Identity)
    assert isinstance(net.conv3.pool, torch.nn.Identity)


@pytest.mark.parametrize("memory_format", [torch.contiguous_format, torch.channels_last])
@pytest.mark.parametrize("size, beta", [(5, 0.75), (4, 0.6)])  # an even window is lopsided; beta 0.75 has its own path
def test_lrn_is_torchs_local_response_norm_forward_and_backward(memory_format, size, beta):
    torch.manual_seed(0)
    x = (torch.randn(4, 7, 5, 6) * 30).contiguous(memory_format=memory_format)  # large values: the sum matters
    ours, theirs = x.clone().requires_grad_(), x.clone().requires_grad_()
    out, expected = (
        LocalResponseNorm(size, 1e-4, beta, 1.0)(ours),
        torch.nn.LocalResponseNorm(size, 1e-4, beta, 1.0)(theirs),
    )
    assert (expected - x).abs().max() > 0.1  # the normalisation is not a no-op on these inputs
    assert_close_fp32(out, expected, fan_in=size)  # a window of `size` squares
    weights = torch.randn_like(x)
    (out * weights).sum().backward()
    (expected * weights).sum().backward()
    assert_close_fp32(ours.grad, theirs.grad, fan_in=2 * size)  # the window's sum, then the windows holding x


def test_conv_layer_is_caffenets_conv_relu_pool_lrn_in_values_and_gradients():
    torch.manual_seed(0)
    layer = AlexNet(num_classes=10, **SMALL).conv1
    x = torch.randn(3, 1, 28, 28)
    ours, caffe = x.clone().requires_grad_(), x.clone().requires_grad_()
    conv = torch.nn.functional.conv2d(caffe, layer.weight, layer.bias, padding=2)
    expected = torch.nn.LocalResponseNorm(5, 1e-4, 0.75, 1.0)(torch.nn.functional.max_pool2d(torch.relu(conv), 3, 2))
    out = layer(ours)
    assert_close_fp32(out, expected, fan_in=5 * 5 + 5)  # a 5x5 kernel on 1 channel, then LRN's 5 channels
    out.square().sum().backward()
    expected.square().sum().backward()
    # The gradient at a pixel sums over the 5x5 taps of each of the 32 filters (through pooling and LRN).
    assert_close_fp32(ours.grad, caffe.grad, fan_in=5 * 5 * 32)


def test_caffe_initialisation():
    torch.manual_seed(0)
    net = AlexNet(num_classes=1000)
    assert net.fc6.weight.std().item() == pytest.approx(0.005, rel=0.02)
    assert net.conv3.weight.std().item() == pytest.approx(0.01, rel=0.02)
    for name, bias in [
        ("conv1", 0),
        ("conv2", 1),
        ("conv3", 0),
        ("conv4", 1),
        ("conv5", 1),
        ("fc6", 1),
        ("fc7", 1),
        ("fc8", 0),
    ]:
        assert torch.all(getattr(net, name).bias == bias), name


def test_fc8_outputs_smaller_than_the_classes_is_refused():
    with pytest.raises(ValueError, match="fc8_outputs"):
        AlexNet(num_classes=500, fc8_outputs=100)


def test_small_twin_runs_on_28px_images():
    net = AlexNet(num_classes=10, **SMALL)
    assert net(torch.zeros(4, 1, 28, 28)).shape == (4, 10)
    assert sum(p.numel() for p in net.parameters()) < 500_000


@pytest.mark.parametrize(
    "device",
    [
        "cpu",
        pytest.param(
            "cuda",
            marks=[pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")],
        ),
    ],
)
def test_lrn_and_the_loss_compute_in_fp32_under_bf16_autocast(device):
    # The suspects of a bf16 divergence: autocast already runs LRN's power and the cross-entropy in
    # fp32, so bf16 only rounds LRN's input (Caffe-scale activations: raw pixels x std-0.01 weights).
    lrn = AlexNet(num_classes=10).conv1.lrn
    activations = torch.rand(4, 96, 27, 27, device=device) * 300
    logits, labels = torch.randn(4, 1000, device=device) * 50, torch.arange(4, device=device)
    with torch.autocast(device, dtype=torch.bfloat16):
        low, loss = lrn(activations.bfloat16()), torch.nn.functional.cross_entropy(logits.bfloat16(), labels)
    assert low.dtype == loss.dtype == torch.float32
    exact = lrn(activations.bfloat16().float())
    # fp32 agreement, not bf16's (eps 2^-8 = 3.9e-3): LRN ran on the rounded input in fp32.
    assert_close_fp32(low, exact, fan_in=5)
    assert fp32_tolerance(exact, 5) < 0.5 * torch.finfo(torch.bfloat16).eps * exact.abs().max()
    assert torch.isfinite(loss)
