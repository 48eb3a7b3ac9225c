"""What a study's report shows, declared by the study (``bench.studies``) and rendered by :mod:`reports.html`.

``reports`` never imports the studies: the caller hands :func:`reports.html.write_report` the study's
:class:`ReportSpec` — its introductory paragraph, the columns of its summary table and the function that
draws its figures from the stored results. A results directory whose study has no spec still gets a
report: :data:`GENERIC` shows every summary column and no figures.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

# name -> (caption, matplotlib Figure)
Figures = Mapping[str, tuple[str, Any]]


def no_figures(results: dict) -> Figures:
    """Return no figures: the ``figures`` of a study that has none.

    Parameters
    ----------
    results : dict
        The results as :func:`reports.figures.load_results` returns them (unused).

    Returns
    -------
    Mapping
        An empty dict.
    """
    return {}


@dataclass(frozen=True)
class ReportSpec:
    """A study's report.

    Parameters
    ----------
    intro : str, default ""
        The paragraph under the title: what the numbers are and how they were obtained (plain text).
    columns : tuple of (str, str), default ()
        Summary columns shown, as (column, label); empty shows every column under its own name.
    figures : callable, default :func:`no_figures`
        ``figures(results) -> {name: (caption, Figure)}`` from :func:`reports.figures.load_results`'s dict;
        each figure is written as ``NAME.png`` and ``NAME.pdf``.
    fits_columns : bool, default False
        Whether the study fits Gaussian columns (the report then names the estimator).
    """

    intro: str = ""
    columns: tuple[tuple[str, str], ...] = ()
    figures: Callable[[dict], Figures] = no_figures
    fits_columns: bool = False


GENERIC = ReportSpec()
