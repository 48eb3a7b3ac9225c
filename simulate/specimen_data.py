"""The shipped default images of the non-periodic specimens, with their provenance.

``simulate/data/pt112_dislocation_haadf.{npz,json}`` and ``simulate/data/pt_nanoparticle_haadf.{npz,json}``
hold the images of :func:`simulate.specimen_recipe.default_recipe`, the ground truth of their columns, and a
JSON file with the specimen, the recipe, library versions, run time, fidelity and the SHA-256 of the npz.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from _shared.legacy_names import rename_legacy_keys
from simulate.cache import read_shipped_arrays, write_shipped_arrays
from simulate.dislocation import ProjectedColumns
from simulate.specimen_recipe import SpecimenImage, SpecimenImageRecipe

DATA_DIRECTORY = Path(__file__).parent / "data"
_STEMS = {"dislocation": "pt112_dislocation_haadf", "nanoparticle": "pt_nanoparticle_haadf"}


def shipped_path(kind: str) -> Path:
    """Return the path of the shipped ``.npz`` of a kind.

    Parameters
    ----------
    kind : {'dislocation', 'nanoparticle'}
        Specimen kind.

    Returns
    -------
    Path
        ``simulate/data/<stem>.npz`` (its metadata is the ``.json`` next to it).

    Raises
    ------
    ValueError
        If ``kind`` is unknown.
    """
    if kind not in _STEMS:
        raise ValueError(f"kind={kind!r} must be one of {tuple(_STEMS)}")
    return DATA_DIRECTORY / f"{_STEMS[kind]}.npz"


def load_shipped(kind: str):
    """Load the shipped image of a kind, verified against the SHA-256 in its JSON.

    Parameters
    ----------
    kind : {'dislocation', 'nanoparticle'}
        Specimen kind.

    Returns
    -------
    SpecimenImage
        The per-configuration images, their recipe and the ground-truth columns. Array and metadata names
        written before the unit-suffix convention (``column_positions_angstrom`` …) are read as the new ones
        (:mod:`_shared.legacy_names`), so the shipped files need no rewrite.

    Raises
    ------
    FileNotFoundError
        If the data are missing; regenerate them with ``bench simulate KIND --write-default``.
    ValueError
        If the npz does not match its recorded hash, or ``kind`` is unknown.
    """
    arrays, meta = read_shipped_arrays(shipped_path(kind), f"shipped {kind} image",
                                       f"bench simulate {kind} --write-default")
    arrays, meta = rename_legacy_keys(arrays), rename_legacy_keys(meta)
    columns = ProjectedColumns(arrays["column_positions_A"], arrays["atoms_per_column"],
                               arrays["column_reference_positions_A"], arrays["core_mask"])
    return SpecimenImage(kind, meta["specimen"], SpecimenImageRecipe.from_dict(meta["recipe"]),
                         arrays["configuration_images"], columns, meta.get("metadata", {}))


def write_shipped(image) -> Path:
    """Store a :class:`~simulate.specimen_recipe.SpecimenImage` as its kind's shipped data (atomically).

    Parameters
    ----------
    image : SpecimenImage
        Image to ship; its configuration images are stored as float32.

    Returns
    -------
    Path
        Path of the written ``.npz``.
    """
    npz = shipped_path(image.kind)
    write_shipped_arrays(npz, {
        "configuration_images": image.configuration_images.astype(np.float32),
        "column_positions_A": image.columns.positions_A,
        "column_reference_positions_A": image.columns.reference_positions_A,
        "atoms_per_column": image.columns.atoms_per_column,
        "core_mask": image.columns.core_mask,
    }, {
        "kind": image.kind,
        "specimen": image.specimen,
        "recipe": image.recipe.to_dict(),
        "metadata": image.metadata,
        "pixel_size_A": image.pixel_size_A,
        "coordinates": "pixel [row, column] is the probe at (x, y) = (column, row) · pixel_size_A; "
                       "column positions are (x, y) in the same frame [Å]",
        "regenerate": f"bench simulate {image.kind} --write-default",
    })
    return npz
