import pytest
import torch

from restore.models import PatchGAN, PatchGANConfig
from restore.models.patchgan import RECEPTIVE_FIELD


def test_receptive_field_is_70_pixels_without_padding():
    torch.manual_seed(0)
    critic = PatchGAN(PatchGANConfig.tiny()).eval()
    assert RECEPTIVE_FIELD == 70
    x = torch.rand(1, 1, 70, 70)
    assert critic(x, x).shape == (1, 1, 1, 1)
    assert critic(torch.rand(1, 1, 256, 256), torch.rand(1, 1, 256, 256)).shape == (1, 1, 24, 24)
    assert all(m.padding == (0, 0) for m in critic.modules() if isinstance(m, torch.nn.Conv2d))
    assert sum(isinstance(m, torch.nn.InstanceNorm2d) for m in critic.modules()) == 3


def test_patch_outputs_only_see_their_own_70px_window():
    # instance norm couples all positions through its statistics; the conv stack alone sets the window
    torch.manual_seed(1)
    critic = PatchGAN(PatchGANConfig.tiny()).eval()
    critic.net = torch.nn.Sequential(*[torch.nn.Identity() if isinstance(m, torch.nn.InstanceNorm2d) else m
                                       for m in critic.net])
    x = torch.rand(1, 1, 86, 86)
    y = torch.rand(1, 1, 86, 86, requires_grad=True)
    critic(x, y)[0, 0, 0, 0].backward()
    support = y.grad[0, 0].abs() > 0
    rows, cols = torch.nonzero(support, as_tuple=True)
    assert (int(rows.min()), int(rows.max()), int(cols.min()), int(cols.max())) == (0, 69, 0, 69)


def test_full_width_and_input_checks():
    critic = PatchGAN()
    assert critic.net[0].out_channels == 64 and critic.net[-1].in_channels == 512
    with pytest.raises(ValueError, match="receptive field"):
        critic(torch.zeros(1, 1, 64, 64), torch.zeros(1, 1, 64, 64))
    with pytest.raises(ValueError, match="same"):
        critic(torch.zeros(1, 1, 80, 80), torch.zeros(1, 1, 80, 82))
