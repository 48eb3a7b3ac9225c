"""Restoration of single-shot (S)TEM images: CGRDN generator, PatchGAN discriminator, losses,
training, tiled inference and the model registry. May import :mod:`simulate`, nothing else of ours."""
