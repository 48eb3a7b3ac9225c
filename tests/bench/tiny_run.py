"""A tiny but real precision-vs-dose run on the coarse abTEM series, shared by the bench and report tests.

It is run once per test session through the real ``bench run`` command (coarse recipe, one thickness,
two doses, three realisations, raw and BM3D) and its results directory is reused read-only.
"""
from __future__ import annotations

from pathlib import Path

_CACHE: dict[str, Path] = {}

TINY_ARGS = ["--recipe", "coarse", "--thicknesses", "4", "--doses", "500,50000", "--realisations", "3",
             "--methods", "raw,bm3d", "--workers", "1", "--quiet"]


def coarse_series():
    from simulate.recipe import COARSE_RECIPE
    from simulate.thickness_series import simulate_thickness_series

    return simulate_thickness_series(COARSE_RECIPE, progress=False)


def tiny_results(tmp_path_factory) -> Path:
    if "tiny" not in _CACHE:
        from bench.cli import main

        coarse_series()  # simulate (or load from the cache) before the command runs
        output = tmp_path_factory.mktemp("tiny-run") / "results"
        code = main(["run", "precision-vs-dose", *TINY_ARGS, "--output", str(output)])
        assert code == 0
        _CACHE["tiny"] = output
    return _CACHE["tiny"]
