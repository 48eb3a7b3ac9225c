"""Networks of the restoration stack: the CGRDN generator and the PatchGAN discriminator."""
from restore.models.cgrdn import CGRDN, CGRDNConfig
from restore.models.patchgan import PatchGAN, PatchGANConfig

__all__ = ["CGRDN", "CGRDNConfig", "PatchGAN", "PatchGANConfig"]
