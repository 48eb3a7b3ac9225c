"""Restoration methods compared by the studies: one interface, a stack of images in, a stack out.

Each family of methods is one module here, registered once (:func:`register_method_family`):

- ``raw`` (:mod:`bench.methods.raw`): the measured image itself (no restoration);
- ``bm3d`` (:mod:`bench.methods.bm3d`): BM3D behind a variance-stabilising transform and its exact unbiased
  inverse;
- CNNs (:mod:`bench.methods.cnn`): a registered network (``arch.tag``) or a ``.safetensors`` checkpoint;
- self-supervised denoisers (:mod:`bench.methods.self_supervised`): ``n2v2``, ``structn2v``, ``n2n`` and
  ``hourglass``, trained by the study on its own noisy data (:class:`TrainingData`, :func:`apply_method`).

Every method maps (B, H, W) images in detector units to (B, H, W) images in the same units, given the
:class:`NoiseModel` of the detector (only the VST uses it). A new family is a new module here defining its
method class and registering a :class:`MethodFamily`; :func:`make_method` and :func:`default_methods` find it.
"""
from bench.methods.base import (
    POISSON,
    Method,
    MethodFamily,
    NoiseModel,
    TrainingData,
    apply_method,
    as_stack,
    default_methods,
    learns_from_data,
    make_method,
    method_families,
    method_label,
    register_method_family,
    stem_noise_model,
)
from bench.methods.bm3d import (
    BM3DMethod,
    anscombe,
    generalized_anscombe,
    inverse_anscombe_unbiased,
    inverse_generalized_anscombe,
)
from bench.methods.cnn import DEFAULT_MODEL, CNNMethod, cnn_method
from bench.methods.raw import RawMethod
from bench.methods.self_supervised import SelfSupervisedMethod

__all__ = [
    "DEFAULT_MODEL", "POISSON", "BM3DMethod", "CNNMethod", "Method", "MethodFamily", "NoiseModel", "RawMethod",
    "SelfSupervisedMethod", "TrainingData", "anscombe", "apply_method", "as_stack", "cnn_method", "default_methods",
    "generalized_anscombe", "inverse_anscombe_unbiased", "inverse_generalized_anscombe", "learns_from_data",
    "make_method", "method_families", "method_label", "register_method_family", "stem_noise_model",
]
