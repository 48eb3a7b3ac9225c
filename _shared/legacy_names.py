"""Names that files written before the unit-suffix convention (issue 16) use, and how to read them.

Physical quantities are named with a unit suffix (``_A`` for Å, ``_A2`` for Å², ``_e_per_A2``, ``_mrad`` …).
Recipes, presets, parameter sets, results manifests and the shipped data written before that convention
use the old names (``pixel_size``, ``pixel_size_angstrom``, ``dose_per_area``, ``fit_method`` …). Every
reader of a persisted dictionary passes it through :func:`rename_legacy_keys`, so those files keep loading
unchanged; new files are written with the new names only.

:data:`LEGACY_NAMES` maps each old key to its one new key. No new key is itself an old key, so renaming
once is enough (and renaming a new-named dictionary changes nothing). Two old keys share a new one:
``pixel_size`` and ``pixel_size_angstrom`` both become ``pixel_size_A``; a dictionary holding both (with
different values) is refused rather than silently losing one.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

LEGACY_NAMES: dict[str, str] = {
    # lengths [Å]
    "block_angstrom": "block_A",
    "border_angstrom": "border_A",
    "burgers_closure_angstrom": "burgers_closure_A",
    "burgers_vector_angstrom": "burgers_vector_A",
    "centre_angstrom": "centre_A",
    "circuit_corners_angstrom": "circuit_corners_A",
    "column_positions_angstrom": "column_positions_A",
    "column_reference_positions_angstrom": "column_reference_positions_A",
    "core_position_angstrom": "core_position_A",
    "core_radius_angstrom": "core_radius_A",
    "extent_angstrom": "extent_A",
    "field_of_view_angstrom": "field_of_view_A",
    "interior_margin_angstrom": "interior_margin_A",
    "jitter_sigma_angstrom": "jitter_sigma_A",
    "lattice_constant_angstrom": "lattice_constant_A",
    "phonon_rms_displacement_angstrom": "phonon_rms_displacement_A",
    "pixel_size": "pixel_size_A",
    "pixel_size_angstrom": "pixel_size_A",
    "pixel_size_range_angstrom": "pixel_size_range_A",
    "plane_spacing_angstrom": "plane_spacing_A",
    "positions_angstrom": "positions_A",
    "potential_sampling_angstrom": "potential_sampling_A",
    "reference_positions_angstrom": "reference_positions_A",
    "sampling_angstrom": "sampling_A",
    "scan_sampling_angstrom": "scan_sampling_A",
    "slice_thickness_angstrom": "slice_thickness_A",
    "slice_thicknesses_angstrom": "slice_thicknesses_A",
    "source_size_fwhm_angstrom": "source_size_fwhm_A",
    "vacuum_angstrom": "vacuum_A",
    # areas [Å²]
    "scs_angstrom2": "scs_A2",
    "scs_gaussian_angstrom2": "scs_gaussian_A2",
    "scs_standard_error_angstrom2": "scs_standard_error_A2",
    "scs_voronoi_angstrom2": "scs_voronoi_A2",
    # other units
    "dose_per_area": "dose_e_per_A2",
    "relax_fmax_ev_per_angstrom": "relax_fmax_ev_per_A",
    # the column-fit estimator ('least_squares' or 'poisson'), not a restoration method
    "fit_method": "estimator",
}

# fitting.fit_columns keyword options recorded as a dict (a counting library's ``fit_options``): there the
# estimator was ``method``, a name that elsewhere means a restoration or simulation method, so it is not in
# the global map
LEGACY_FIT_OPTION_NAMES: dict[str, str] = {"method": "estimator"}


def rename_legacy_keys(value: Any, names: Mapping[str, str] = LEGACY_NAMES) -> Any:
    """Return ``value`` with every old key of its (nested) dictionaries renamed to the new one.

    Dictionaries inside lists and tuples are renamed too; keys that are not old names, and every value
    that is not a container, are kept as they are. The input is not modified.

    Parameters
    ----------
    value : Any
        A parsed JSON value (dict, list, scalar), e.g. a recipe's ``to_dict()`` as written in a file.
    names : mapping of str to str, optional
        Old key to new key (default :data:`LEGACY_NAMES`).

    Returns
    -------
    Any
        A renamed copy of the dictionaries and lists; other values as given.

    Raises
    ------
    ValueError
        If two keys of one dictionary become the same key with different values (e.g. ``pixel_size`` and
        ``pixel_size_A``).
    """
    if isinstance(value, Mapping):
        renamed: dict = {}
        for key, item in value.items():
            new = names.get(key, key) if isinstance(key, str) else key
            item = rename_legacy_keys(item, names)
            if new in renamed and not _equal(renamed[new], item):
                raise ValueError(f"the dictionary holds {new!r} twice under old and new names (one is {key!r}) "
                                 "with different values; keep one of them")
            renamed[new] = item
        return renamed
    if isinstance(value, list):
        return [rename_legacy_keys(item, names) for item in value]
    if isinstance(value, tuple):
        return tuple(rename_legacy_keys(item, names) for item in value)
    return value


def _equal(first: Any, second: Any) -> bool:
    try:
        return bool(first == second)
    except (TypeError, ValueError):  # arrays compare element by element: count them as different
        return False


def has_legacy_keys(value: Any, names: Mapping[str, str] = LEGACY_NAMES) -> bool:
    """Tell whether any (nested) dictionary of ``value`` has a key of ``names``.

    Parameters
    ----------
    value : Any
        A parsed JSON value.
    names : mapping of str to str, optional
        Old key to new key (default :data:`LEGACY_NAMES`).

    Returns
    -------
    bool
        True when at least one key would be renamed by :func:`rename_legacy_keys`.
    """
    if isinstance(value, Mapping):
        return any(key in names or has_legacy_keys(item, names) for key, item in value.items())
    if isinstance(value, (list, tuple)):
        return any(has_legacy_keys(item, names) for item in value)
    return False


def upgrade_manifest_names(manifest: dict, config_hash: Callable[[dict], str]) -> dict:
    """Return a results manifest with the old names renamed, keeping its configuration hash meaningful.

    A ``config_hash`` that is the hash of the recorded configuration becomes that of the renamed one: the run's
    settings are the same, only their names changed, so the directory resumes (and is saved with the new
    names). A hash that matched nothing is kept.

    Parameters
    ----------
    manifest : dict
        A parsed ``manifest.json`` (:mod:`_shared.results`).
    config_hash : callable
        The hash of a configuration (:func:`_shared.results.config_hash`).

    Returns
    -------
    dict
        ``manifest`` itself when it holds no old name, else a renamed copy.

    Raises
    ------
    ValueError
        If a dictionary holds one quantity under an old and a new name with different values.
    """
    if not has_legacy_keys(manifest):
        return manifest
    consistent = manifest.get("config_hash") == config_hash(manifest.get("config", {}))
    upgraded = rename_legacy_keys(manifest)
    if consistent:
        upgraded["config_hash"] = config_hash(upgraded.get("config", {}))
    return upgraded
