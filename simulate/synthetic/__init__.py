"""Synthetic training pairs (paper: "Data generation"): random specimens, undistorted EM images
(eqs. 16–26), modalities and one-call pair generation. See docs/synthetic.md.

Public entry points: :func:`make_pair` (one (x, y, record) pair from a seed), :func:`sample_specimen`,
:func:`sample_profiles`, :func:`render_atoms`, :func:`sample_lowres_image`, :func:`finish_image` and the
modalities in :data:`MODALITIES`.
"""
from simulate.synthetic.image import finish_image
from simulate.synthetic.lowres import sample_lowres_image
from simulate.synthetic.modalities import MODALITIES, Modality, get_modality
from simulate.synthetic.pairs import SYNTHETIC_RECIPE_VERSION, make_pair
from simulate.synthetic.radial import RadialProfiles, projected_potential_rms_radius, sample_profiles
from simulate.synthetic.render import render_atoms
from simulate.synthetic.specimens import Specimen, sample_specimen

__all__ = [
    "MODALITIES", "SYNTHETIC_RECIPE_VERSION", "Modality", "RadialProfiles", "Specimen", "finish_image", "get_modality",
    "make_pair",
    "projected_potential_rms_radius", "render_atoms", "sample_lowres_image", "sample_profiles",
    "sample_specimen",
]
