"""Atom counting from SCS values: library matching and Gaussian-mixture (ICL) counting."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fitting.gmm import GaussianMixture, iterate_gmm_path

CRITERIA = ("icl", "bic", "aic")


def _check_library(library) -> np.ndarray:
    table = np.asarray(library, dtype=np.float64)
    if table.ndim != 1 or table.size < 2:
        raise ValueError("library must be a 1-D array of SCS values for 0, 1, …, n atoms (n ≥ 1), got shape "
                         f"{table.shape}")
    if not np.all(np.isfinite(table)) or np.any(np.diff(table) <= 0):
        raise ValueError("library SCS values must be finite and strictly increasing with the number of atoms")
    return table


def count_by_library(scs, library) -> np.ndarray:
    """Count the atoms in each column: the index of the nearest library SCS.

    Parameters
    ----------
    scs : array_like
        SCS values, any shape [same units as the library, e.g. Å²].
    library : array_like
        Shape (n + 1,): SCS for 0, 1, …, n atoms, entry 0 being the empty (0-atom) column, computed with
        the same estimator (fit or Voronoi) as ``scs``.

    Returns
    -------
    ndarray
        Int64 atom counts 0 … n, of the shape of ``scs``; a value exactly halfway between two library
        entries gets the smaller count.

    Raises
    ------
    ValueError
        For a library that is not 1-D, strictly increasing and at least two entries long, or non-finite SCS.
    """
    table = _check_library(library)
    values = np.asarray(scs, dtype=np.float64)
    if not np.all(np.isfinite(values)):
        raise ValueError("scs contains NaN or infinite values; drop flagged columns first")
    midpoints = 0.5 * (table[1:] + table[:-1])
    return np.searchsorted(midpoints, values, side="left").astype(np.int64)


@dataclass(frozen=True)
class MixtureCounting:
    """Statistical atom counting result (returned by :func:`count_by_gmm`).

    Parameters
    ----------
    counts : ndarray
        Atoms per column, integers of the shape of the input SCS.
    mixture : GaussianMixture
        The selected mixture (k components).
    offset : int
        Atoms in the lowest component (from the library, else 1).
    n_components : int
        The selected k.
    criterion : str
        The criterion asked for: "icl", "bic" or "aic".
    scores : dict of str to ndarray
        ``"icl"``, ``"bic"``, ``"aic"`` and ``"log_likelihood"``, each a (K,) array for k = 1 … K, where
        K = ``max_components`` unless ``stop_after`` ended the path early.
    path : list of GaussianMixture
        All fitted mixtures, k = 1 … K.
    """

    counts: np.ndarray
    mixture: GaussianMixture
    offset: int
    n_components: int
    criterion: str
    scores: dict
    path: list


def _first_pronounced(values, prominence):
    for k in range(1, values.size - 1):
        if np.min(values[:k]) - values[k] >= prominence and values[k + 1] - values[k] >= prominence:
            return k
    return None


def first_local_minimum(score, prominence=2.0) -> int:
    """Return the index of the first pronounced local minimum of ``score`` (k = index + 1).

    Scanning k upwards, index k > 0 qualifies when it improves on every smaller k by at least
    ``prominence`` and the next k is at least ``prominence`` worse: an early bump (a poor 2- or
    3-component compromise on a many-component set) is therefore not mistaken for the answer. When no
    index qualifies, the global minimum is returned (e.g. k = 1 for a single population).

    Parameters
    ----------
    score : array_like
        Shape (K,): criterion values for k = 1 … K (smaller is better), e.g. ICL.
    prominence : float, default 2.0
        Required margin in criterion units (−2 ln L scale). The last index can never qualify.

    Returns
    -------
    int
        The 0-based index into ``score``.
    """
    values = np.asarray(score, dtype=np.float64)
    found = _first_pronounced(values, prominence)
    return int(np.argmin(values)) if found is None else found


def library_offset(means, library) -> int:
    """Return the number of atoms in the lowest component: the library shift that best matches ``means``.

    Parameters
    ----------
    means : array_like
        Shape (k,): the component means, sorted ascending [units of the library].
    library : array_like
        Shape (n + 1,): SCS for 0, 1, …, n atoms, strictly increasing.

    Returns
    -------
    int
        The offset o minimising Σ_j (means_j − library_{o+j})², 0 ≤ o ≤ n + 1 − k.

    Raises
    ------
    ValueError
        For a library that is not 1-D, strictly increasing and at least two entries long, or one with
        fewer than k entries.
    """
    table = _check_library(library)
    k = len(means)
    if k > table.size:
        raise ValueError(f"the library covers {table.size - 1} atoms but the mixture has {k} components; "
                         "extend the library")
    errors = [np.sum((np.asarray(means) - table[o:o + k]) ** 2) for o in range(table.size - k + 1)]
    return int(np.argmin(errors))


SELECTIONS = ("global", "first_local")


def count_by_gmm(scs, max_components, *, dose=None, library=None, criterion="icl", selection="global",
                 prominence=2.0, n_components=None, stop_after=None) -> MixtureCounting:
    """Count atoms statistically: fit mixtures with k = 1 … ``max_components`` and pick k by a criterion.

    Parameters
    ----------
    scs : array_like
        SCS values, any shape (flattened for the fit) [Å² with ``dose``; any units otherwise].
    max_components : int
        Largest k tried (e.g. the number of counts the library covers).
    dose : float, optional
        D [e⁻/Å²] for the dose-dependent variance σ² + μ/D; None (default) for a shared σ².
    library : array_like, optional
        Shape (n + 1,): SCS for 0 … n atoms; gives the absolute count of the lowest component
        (:func:`library_offset`). Without it the lowest component counts 1 atom.
    criterion : {"icl", "bic", "aic"}, default "icl"
        The model-selection criterion (smaller is better).
    selection : {"global", "first_local"}, default "global"
        "global": the k of the smallest criterion value; "first_local": the first pronounced local
        minimum (:func:`first_local_minimum`, ICL only) — on many-component data this stops at a
        spurious 1- or 2-lump minimum, see docs/fitting.md.
    prominence : float, default 2.0
        Margin in criterion units (−2 ln L scale) for ``selection="first_local"``.
    n_components : int, optional
        Force k (1 … ``max_components``) instead of selecting it; ``stop_after`` is then ignored.
    stop_after : int, optional
        Stop fitting once the criterion has not improved on its smallest value (or, with
        ``selection="first_local"``, on the first pronounced minimum found) for this many consecutive k
        (saves time on long ranges; the scores then end there). None fits all k. ICL is not monotone below
        the true k (2- and 3-lump compromises of a many-component set can score worse than one
        component), so a small value can stop at k = 1; keep it ≥ 5 or None.

    Returns
    -------
    MixtureCounting
        The counts (of the shape of ``scs``), the selected mixture, the scores and the fitted path.

    Raises
    ------
    ValueError
        For a bad criterion or selection, component number, dose, library or non-finite SCS values.
    """
    if criterion not in CRITERIA:
        raise ValueError(f"criterion must be one of {CRITERIA}, got {criterion!r}")
    if selection not in SELECTIONS:
        raise ValueError(f"selection must be one of {SELECTIONS}, got {selection!r}")
    if selection == "first_local" and criterion != "icl":
        raise ValueError(f"selection='first_local' applies to criterion='icl' only, got criterion={criterion!r}")
    values = np.asarray(scs, dtype=np.float64)
    if stop_after is not None and (int(stop_after) != stop_after or stop_after < 1):
        raise ValueError(f"stop_after must be a positive integer or None, got {stop_after!r}")
    if n_components is not None and not (int(n_components) == n_components and 1 <= n_components <= max_components):
        raise ValueError(f"n_components must lie in 1…{max_components}, got {n_components!r}")
    path = []
    for fit in iterate_gmm_path(values, max_components, dose=dose):
        path.append(fit)
        if stop_after is not None and n_components is None:
            score = np.array([getattr(f, criterion) for f in path])
            if selection == "first_local":
                found = _first_pronounced(score, prominence)
                if found is not None and len(path) - 1 - found >= stop_after:
                    break
            elif len(path) - 1 - int(np.argmin(score)) >= stop_after:
                break
    scores = {
        "icl": np.array([fit.icl for fit in path]),
        "bic": np.array([fit.bic for fit in path]),
        "aic": np.array([fit.aic for fit in path]),
        "log_likelihood": np.array([fit.log_likelihood for fit in path]),
    }
    if n_components is not None:
        chosen = int(n_components) - 1
    elif selection == "first_local":
        chosen = first_local_minimum(scores["icl"], prominence)
    else:
        chosen = int(np.argmin(scores[criterion]))
    mixture = path[chosen]
    offset = 1 if library is None else library_offset(mixture.means, library)
    counts = (mixture.classify(values) + offset).reshape(values.shape)
    return MixtureCounting(counts=counts, mixture=mixture, offset=offset, n_components=chosen + 1,
                           criterion=criterion, scores=scores, path=path)
