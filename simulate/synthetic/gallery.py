"""Gallery of random synthetic training pairs, so a person can judge their realism.

One PNG per modality: each column is one pair, the top row the distorted input x, the bottom row the
undistorted target y, titled with the image source and pixel size. A JSON file next to each PNG keeps
the full records of the pairs shown. Pair i of a modality uses the generator SeedSequence([seed, i]).
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from _shared.files import write_figure_atomic, write_text_atomic
from simulate.synthetic.modalities import MODALITIES, get_modality
from simulate.synthetic.pairs import make_pair


def _title(record: dict) -> str:
    image = record["image"]
    if image["source"] == "atomic":
        what = image["specimen"]["kind"]
    else:
        what = "+".join(k.split("_")[0] for k in image["kinds"])
    return f"{what}\n{record['pixel_size_A']:.3f} Å/px"


def make_pair_gallery(out_dir: str | os.PathLike, seed: int = 0, modalities: tuple[str, ...] | None = None,
                      count: int = 6, size: int = 256) -> list[Path]:
    """Write one figure (and one JSON of records) per modality.

    Parameters
    ----------
    out_dir : path-like
        Output folder (created if missing).
    seed : int
        Gallery seed, ≥ 0.
    modalities : tuple of str, optional
        Modalities to show; all when omitted.
    count : int
        Pairs per modality, ≥ 1.
    size : int
        Image side [px].

    Returns
    -------
    list of Path
        The files written.

    Raises
    ------
    ValueError
        If ``seed`` or ``count`` is invalid or a modality is unknown.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if seed < 0 or count < 1:
        raise ValueError(f"seed={seed!r} must be ≥ 0 and count={count!r} ≥ 1")
    names = [get_modality(m).name for m in (modalities or tuple(MODALITIES))]
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name in names:
        pairs = [make_pair(np.random.default_rng(np.random.SeedSequence([seed, i])), name, size) for i in range(count)]
        fig, axes = plt.subplots(2, count, figsize=(2.2 * count, 4.9), squeeze=False)
        for column, (x, y, record) in enumerate(pairs):
            for row, image in enumerate((x, y)):
                ax = axes[row, column]
                data = image.numpy()
                low, high = np.percentile(data, [0.5, 99.5])
                ax.imshow(data, cmap="gray", vmin=low, vmax=high if high > low else low + 1)
                ax.set_xticks([])
                ax.set_yticks([])
            axes[0, column].set_title(_title(record), fontsize=7)
        axes[0, 0].set_ylabel("x (distorted)")
        axes[1, 0].set_ylabel("y (target)")
        fig.suptitle(f"{name}: random training pairs (seed {seed})")
        fig.tight_layout()
        png = out / f"pairs_{name}.png"
        write_figure_atomic(png, fig, dpi=100)
        plt.close(fig)
        records = out / f"pairs_{name}.json"
        text = json.dumps([record for _, _, record in pairs], indent=1)
        write_text_atomic(records, text)
        written += [png, records]
    return written
