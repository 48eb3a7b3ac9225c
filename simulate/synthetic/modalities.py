"""Modalities: which undistorted image types and which distortion pipeline each modality uses.

The paper trains one network per modality (its published models: HR-STEM, LR-STEM, HR-TEM, LR-TEM,
HR-SEM, LR-SEM). High-resolution modalities draw atomic specimens (crystalline, amorphous, individual
points); low-resolution modalities draw mostly the low-resolution image types (particles, grains, bands,
boxes, cracks) with some individual-point images. S(T)EM modalities use the scanning pipeline (jitter,
Poisson, PMT, fast-scan PSF, line/pixel defects), TEM modalities the camera pipeline (MTF, shot, dark,
read-out noises, clusters). SEM modalities are not provided. ("Preset" in this suite means a study's
parameter set, `bench run --preset`.)

Assumption: the mixing probabilities below are ours. For low-resolution images the pixel size in Å is
nominal: it sets the scan-jitter amplitude in pixels and the dose per pixel, drawn from the same
range as for atomic images so that the distortions cover the same range in pixel units.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

from simulate.distortions.fast_scan import ALIGN_MODES
from simulate.distortions.samplers import DOSE_EXPONENTIAL_SCALE
from simulate.synthetic.lowres import LOWRES_KINDS


@dataclass(frozen=True)
class Modality:
    """How the pairs of one modality are generated.

    Attributes
    ----------
    name : str
        Modality name.
    detector : str
        'stem' (scanning pipeline) or 'tem' (camera pipeline).
    atomic_probability : float
        Probability of an atomic (rendered-specimen) image; otherwise a low-resolution image.
    specimen_kinds : dict
        Probabilities of 'crystalline', 'amorphous' and 'points' for atomic images (sum 1).
    lowres_kinds : tuple of str
        Allowed low-resolution image types.
    postprocess_probability : float
        Probability that post-processing distortions (affine, blur, annotations, crop) are drawn.
    fast_scan_align : str
        'causal' (the paper's physics: the causal fast-scan PSF displaces features along the fast axis by
        its centroid), 'centroid' (the blur is kept, its mean displacement removed) or 'matched' (the blur is
        kept, the shift a Gaussian column fit sees removed), see
        :class:`simulate.distortions.FastScanParams` and docs/synthetic.md.
    dose_exponential_scale : float
        Scale of the truncated exponential of the dose's position on the logarithmic mean-count axis
        (:func:`simulate.distortions.sample_mean_counts`): 0.5, the paper's, puts 81 % of the pairs below
        100 mean counts per pixel; ``math.inf`` spreads them log-uniformly (docs/training_campaign.md says
        why a campaign may want that).
    profile_width_scale_range : tuple of float
        (low, high): every image's profile widths r_Z^m (eq. 18) are multiplied by one factor drawn
        log-uniformly from this range (ours). (1, 1), the paper's, draws nothing. Eq. 18 gives Pt
        r^m ≈ 0.70 Å; aberration-corrected HAADF columns are narrower (the benchmark's abTEM Pt columns fit
        with σ = 0.20-0.34 Å), so a range reaching down to 0.3 adds isolated sharp columns; one factor per
        image keeps eq. 22's ordering (every integral scales by its square).
    clean_scan_probability : float
        S(T)EM only: probability that a pair has Poisson counting and PMT noise only (no scan jitter,
        fast-scan blur or defects; :func:`simulate.distortions.sample_stem_params`). 0, the paper's, draws
        nothing. The paper's draws leave 2.5 % of the images without jitter and fast-scan blur, so a network
        trained on them treats every image as distorted and "restores" a clean one: it sharpens columns,
        most along the fast axis (docs/training_campaign.md, session 9).
    """

    name: str
    detector: str
    atomic_probability: float
    specimen_kinds: dict = field(default_factory=dict)
    lowres_kinds: tuple[str, ...] = LOWRES_KINDS
    postprocess_probability: float = 0.5
    fast_scan_align: str = "causal"
    dose_exponential_scale: float = DOSE_EXPONENTIAL_SCALE
    profile_width_scale_range: tuple[float, float] = (1.0, 1.0)
    clean_scan_probability: float = 0.0

    def __post_init__(self) -> None:
        """Validate the fields.

        Raises
        ------
        ValueError
            If ``fast_scan_align`` or ``detector`` is unknown, ``atomic_probability`` lies outside [0, 1], or
            the specimen-kind probabilities of an atomic modality do not sum to 1.
        """
        if self.fast_scan_align not in ALIGN_MODES:
            raise ValueError(f"fast_scan_align={self.fast_scan_align!r} must be one of {ALIGN_MODES}")
        if not self.dose_exponential_scale > 0:
            raise ValueError(f"dose_exponential_scale={self.dose_exponential_scale!r} must be > 0 (math.inf for "
                             "log-uniform mean counts)")
        low, high = self.profile_width_scale_range
        if not 0 < low <= high:
            raise ValueError(f"profile_width_scale_range={self.profile_width_scale_range!r} must be (low, high) with "
                             "0 < low <= high; (1, 1) keeps the paper's widths")
        if self.detector not in ("stem", "tem"):
            raise ValueError(f"detector={self.detector!r} must be 'stem' or 'tem'")
        if not 0 <= self.clean_scan_probability <= 1 or (self.clean_scan_probability and self.detector != "stem"):
            raise ValueError(f"clean_scan_probability={self.clean_scan_probability!r} must lie in [0, 1], and be 0 "
                             "for a TEM modality (it leaves out the scanning distortions)")
        if not 0 <= self.atomic_probability <= 1:
            raise ValueError(f"atomic_probability={self.atomic_probability!r} must be in [0, 1]")
        if self.atomic_probability > 0 and abs(sum(self.specimen_kinds.values()) - 1) > 1e-9:
            raise ValueError(f"specimen_kinds={self.specimen_kinds!r} must sum to 1")

    def to_dict(self) -> dict:
        """Return a JSON-serialisable description (the recipe of a data set).

        Returns
        -------
        dict
            Every field, with ``specimen_kinds`` as a dict and ``lowres_kinds`` as a list; the dose scale and
            the profile width range and the clean-scan probability only when they are not the paper's (so
            recipes written before they existed stay equal), ``"inf"`` for ``math.inf`` (strict JSON has no
            infinity).
        """
        recipe = {
            "name": self.name,
            "detector": self.detector,
            "atomic_probability": self.atomic_probability,
            "specimen_kinds": dict(self.specimen_kinds),
            "lowres_kinds": list(self.lowres_kinds),
            "postprocess_probability": self.postprocess_probability,
            "fast_scan_align": self.fast_scan_align,
        }
        if self.dose_exponential_scale != DOSE_EXPONENTIAL_SCALE:
            scale = self.dose_exponential_scale
            recipe["dose_exponential_scale"] = "inf" if math.isinf(scale) else float(scale)
        if tuple(self.profile_width_scale_range) != (1.0, 1.0):
            recipe["profile_width_scale_range"] = [float(v) for v in self.profile_width_scale_range]
        if self.clean_scan_probability:
            recipe["clean_scan_probability"] = float(self.clean_scan_probability)
        return recipe


_HR_KINDS = {"crystalline": 0.6, "amorphous": 0.2, "points": 0.2}
NARROW_WIDTHS = (0.3, 1.0)
MILD_NARROW_WIDTHS = (0.5, 1.0)  # against the over-sharpening of thick columns that (0.3, 1) brings
CLEAN_SCANS = 0.25  # as often as the paper leaves out the fast-scan blur
HALF_CLEAN_SCANS = 0.5  # a quarter left the fast-axis sharpening half in place (docs/training_campaign.md)
MOST_CLEAN_SCANS = 0.75  # half still let the network drift back to sharpening (docs/training_campaign.md)
_LR_KINDS = {"crystalline": 0.0, "amorphous": 0.0, "points": 1.0}

MODALITIES: dict[str, Modality] = {
    "hrstem": Modality("hrstem", "stem", 1.0, _HR_KINDS),
    "lrstem": Modality("lrstem", "stem", 0.15, _LR_KINDS),
    "hrtem": Modality("hrtem", "tem", 1.0, _HR_KINDS),
    "lrtem": Modality("lrtem", "tem", 0.15, _LR_KINDS),
    # hrstem with the fast-scan blur's mean displacement removed: a network trained on it deblurs without
    # learning to shift columns back along the fast axis (docs/synthetic.md, "The fast-scan lag").
    "hrstemcentroid": Modality("hrstem_centroid", "stem", 1.0, _HR_KINDS, fast_scan_align="centroid"),
    # hrstem with doses spread log-uniformly over the mean-count range instead of the paper's low-dose weighting:
    # the paper's weighting leaves a CPU-budget network flattening high-dose images (docs/training_campaign.md).
    "hrstemuniformdose": Modality("hrstem_uniform_dose", "stem", 1.0, _HR_KINDS, dose_exponential_scale=math.inf),
    # hrstem_uniform_dose with the fast-scan blur moved back by what a Gaussian column fit sees of it: neither
    # the causal lag nor the centroid (which over-corrects) is the position a fit measures.
    "hrstemuniformdosematched": Modality("hrstem_uniform_dose_matched", "stem", 1.0, _HR_KINDS,
                                         dose_exponential_scale=math.inf, fast_scan_align="matched"),
    # hrstem_uniform_dose with narrower atoms: eq. 18's widths make resolved lattices of isolated columns
    # σ ≈ 1-1.5 px apart by 8-12 px rare, and networks trained without them flatten such lattices (thin Pt
    # columns, the nanoparticle) as if they were noise (docs/training_campaign.md, session 8).
    "hrstemuniformdosenarrow": Modality("hrstem_uniform_dose_narrow", "stem", 1.0, _HR_KINDS,
                                        dose_exponential_scale=math.inf, profile_width_scale_range=NARROW_WIDTHS),
    "hrstemuniformdosenarrowmatched": Modality("hrstem_uniform_dose_narrow_matched", "stem", 1.0, _HR_KINDS,
                                               dose_exponential_scale=math.inf, fast_scan_align="matched",
                                               profile_width_scale_range=NARROW_WIDTHS),
    "hrstemuniformdosemildnarrowmatched": Modality("hrstem_uniform_dose_mild_narrow_matched", "stem", 1.0, _HR_KINDS,
                                                   dose_exponential_scale=math.inf, fast_scan_align="matched",
                                                   profile_width_scale_range=MILD_NARROW_WIDTHS),
    # hrstem_uniform_dose_narrow_matched with a quarter of the pairs scanned cleanly (Poisson and PMT noise only):
    # without them a network cannot learn to leave an undistorted image alone, and a benchmark image is one.
    "hrstemuniformdosenarrowmatchedclean": Modality("hrstem_uniform_dose_narrow_matched_clean", "stem", 1.0, _HR_KINDS,
                                                    dose_exponential_scale=math.inf, fast_scan_align="matched",
                                                    profile_width_scale_range=NARROW_WIDTHS,
                                                    clean_scan_probability=CLEAN_SCANS),
    "hrstemuniformdosenarrowmatchedcleanhalf": Modality("hrstem_uniform_dose_narrow_matched_clean_half", "stem", 1.0,
                                                        _HR_KINDS, dose_exponential_scale=math.inf,
                                                        fast_scan_align="matched",
                                                        profile_width_scale_range=NARROW_WIDTHS,
                                                        clean_scan_probability=HALF_CLEAN_SCANS),
    "hrstemuniformdosenarrowmatchedcleanmost": Modality("hrstem_uniform_dose_narrow_matched_clean_most", "stem", 1.0,
                                                        _HR_KINDS, dose_exponential_scale=math.inf,
                                                        fast_scan_align="matched",
                                                        profile_width_scale_range=NARROW_WIDTHS,
                                                        clean_scan_probability=MOST_CLEAN_SCANS),
    # the half-clean preset with milder narrowing: the width prior is part of what a network sharpens towards (the
    # milder range halved the sharpening, docs/training_campaign.md, session 10)
    "hrstemuniformdosemildnarrowmatchedcleanhalf": Modality("hrstem_uniform_dose_mild_narrow_matched_clean_half",
                                                            "stem", 1.0, _HR_KINDS, dose_exponential_scale=math.inf,
                                                            fast_scan_align="matched",
                                                            profile_width_scale_range=MILD_NARROW_WIDTHS,
                                                            clean_scan_probability=HALF_CLEAN_SCANS),
    # the half-clean preset with the causal fast-scan blur: can a network that sees clean scans half of the time
    # learn to undo the lag where there is a blur and leave a clean scan alone?
    "hrstemuniformdosenarrowcleanhalf": Modality("hrstem_uniform_dose_narrow_clean_half", "stem", 1.0, _HR_KINDS,
                                                 dose_exponential_scale=math.inf,
                                                 profile_width_scale_range=NARROW_WIDTHS,
                                                 clean_scan_probability=HALF_CLEAN_SCANS),
}


def get_modality(name: str | Modality) -> Modality:
    """Return the modality called ``name`` (case-insensitive, '-' and '_' ignored).

    Parameters
    ----------
    name : str or Modality
        Modality name (a key of :data:`MODALITIES`, e.g. 'hrstem', 'LR-TEM'); a :class:`Modality` is returned
        as is.

    Returns
    -------
    Modality
        The modality.

    Raises
    ------
    ValueError
        If there is no such modality.
    """
    if isinstance(name, Modality):
        return name
    key = str(name).lower().replace("-", "").replace("_", "")
    if key not in MODALITIES:
        raise ValueError(f"modality={name!r} is unknown; choose one of {sorted(MODALITIES)}")
    return MODALITIES[key]
