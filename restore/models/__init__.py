"""Networks of the restoration stack: the CGRDN generator and the PatchGAN discriminator.

Each architecture's module registers the network and the named weights that exist for it
(:mod:`restore.models.register`); importing this package registers them all.
"""
from restore.models.cgrdn import CGRDN, CGRDNConfig
from restore.models.patchgan import PatchGAN, PatchGANConfig
from restore.models.register import ARCHITECTURES, WEIGHTS, NamedWeights, architecture_of, build_model

__all__ = ["ARCHITECTURES", "CGRDN", "CGRDNConfig", "NamedWeights", "PatchGAN", "PatchGANConfig", "WEIGHTS",
           "architecture_of", "build_model"]
