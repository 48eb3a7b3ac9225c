import pytest
import torch

from restore.models import PatchGAN, PatchGANConfig
from restore.models.patchgan import OUTPUT_STRIDE, RECEPTIVE_FIELD, WINDOW_START, SameConv2d


def _without_instance_norm(critic: PatchGAN) -> PatchGAN:
    # instance norm couples all positions through its statistics; the conv stack alone sets the window
    critic.net = torch.nn.Sequential(*[torch.nn.Identity() if isinstance(m, torch.nn.InstanceNorm2d) else m
                                       for m in critic.net])
    return critic


@pytest.mark.parametrize("shape, expected", [((256, 256), (32, 32)), ((96, 130), (12, 17)), ((70, 71), (9, 9))])
def test_output_map_is_32x32_for_256px_and_ceil_of_one_eighth_otherwise(shape, expected):
    critic = PatchGAN(PatchGANConfig.tiny()).eval()
    x = torch.rand(1, 1, *shape, generator=torch.Generator().manual_seed(0))
    assert critic(x, x).shape == (1, 1, *expected)


def test_layers_pad_like_tensorflow_same_and_use_instance_norm():
    critic = PatchGAN(PatchGANConfig.tiny())
    convs = [m for m in critic.modules() if isinstance(m, torch.nn.Conv2d)]
    assert all(isinstance(m, SameConv2d) and m.padding == (0, 0) and m.kernel_size == (4, 4) for m in convs)
    assert [m.stride[0] for m in convs] == [2, 2, 2, 1, 1]
    # (left, right, top, bottom) for a 256² input and the sizes each layer then sees
    assert [m.same_padding(n, n) for m, n in zip(convs, (256, 128, 64, 32, 32))] == (
        [(1, 1, 1, 1)] * 3 + [(1, 2, 1, 2)] * 2)
    assert convs[0].same_padding(255, 255) == (1, 2, 1, 2)  # odd input: ceil(255/2) = 128 outputs
    assert sum(isinstance(m, torch.nn.InstanceNorm2d) for m in critic.modules()) == 3
    assert [m.bias is not None for m in convs] == [True, False, False, False, True]


def test_receptive_field_is_70px_with_output_stride_8():
    assert RECEPTIVE_FIELD == 1 + 3 * (1 + 2 + 4 + 8 + 8) == 70 and OUTPUT_STRIDE == 8
    torch.manual_seed(1)
    critic = _without_instance_norm(PatchGAN(PatchGANConfig.tiny()).eval())
    x = torch.rand(1, 1, 128, 128)
    for i, j in [(5, 7), (0, 3), (15, 15)]:  # interior, top border, bottom-right corner
        y = torch.rand(1, 1, 128, 128, requires_grad=True)
        critic(x, y)[0, 0, i, j].backward()
        rows, cols = torch.nonzero(y.grad[0, 0].abs() > 0, as_tuple=True)
        first_row, first_col = OUTPUT_STRIDE * i + WINDOW_START, OUTPUT_STRIDE * j + WINDOW_START
        expected = (max(first_row, 0), min(first_row + RECEPTIVE_FIELD, 128) - 1,
                    max(first_col, 0), min(first_col + RECEPTIVE_FIELD, 128) - 1)
        assert (int(rows.min()), int(rows.max()), int(cols.min()), int(cols.max())) == expected
    assert (OUTPUT_STRIDE * 5 + WINDOW_START, OUTPUT_STRIDE * 5 + WINDOW_START + RECEPTIVE_FIELD - 1) == (17, 86)


def test_full_width_and_input_checks():
    critic = PatchGAN()
    assert critic.net[0].out_channels == 64 and critic.net[-1].in_channels == 512
    with pytest.raises(ValueError, match="70×70 px patch"):
        critic(torch.zeros(1, 1, 64, 64), torch.zeros(1, 1, 64, 64))
    with pytest.raises(ValueError, match="same"):
        critic(torch.zeros(1, 1, 80, 80), torch.zeros(1, 1, 80, 82))
