"""Networks of the restoration stack: the CGRDN generator, the PatchGAN discriminator and the networks of the
self-supervised denoisers (the N2V2 U-Net, the reverse-hourglass CNN).

Each architecture's module registers the network and the named weights that exist for it
(:mod:`restore.models.register`); importing this package registers them all.
"""
from restore.models.blind_spot_unet import BlindSpotUNet, BlindSpotUNetConfig
from restore.models.cgrdn import CGRDN, CGRDNConfig
from restore.models.hourglass import HourglassConfig, ReverseHourglass
from restore.models.patchgan import PatchGAN, PatchGANConfig
from restore.models.register import ARCHITECTURES, WEIGHTS, NamedWeights, architecture_of, build_model

__all__ = ["ARCHITECTURES", "BlindSpotUNet", "BlindSpotUNetConfig", "CGRDN", "CGRDNConfig", "HourglassConfig",
           "ReverseHourglass", "NamedWeights", "PatchGAN", "PatchGANConfig", "WEIGHTS",
           "architecture_of", "build_model"]
