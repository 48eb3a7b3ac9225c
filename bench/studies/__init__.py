"""The quantitative studies of the suite, one module each (see docs/studies.md)."""
from __future__ import annotations

STUDIES = {
    "precision-vs-dose": "bench.studies.precision_vs_dose",
    "dislocation": "bench.studies.dislocation",
    "atom-counting": "bench.studies.atom_counting",
    "denoise": "bench.studies.denoise",
}


def check_study(name: str) -> str:
    """Return the module path of a study.

    Raises
    ------
    ValueError
        For an unknown study (the message lists the available ones).
    """
    if name not in STUDIES:
        raise ValueError(f"unknown study {name!r}; available: {', '.join(STUDIES)}")
    return STUDIES[name]
