"""How a model is named on the command line and in results: ``NAME_OR_PATH[+auto|+bf16|+fp32]``.

A light module (no torch), so that the command line can check a spec before anything heavy is imported
and reports can find a model's card from a method label.
"""
from __future__ import annotations

NUMERIC_SUFFIXES = ("auto", "bf16", "fp32")


def split_numeric(spec: str) -> tuple[str, str]:
    """Split a model spec into its name and numeric suffix: ``"cgrdn.x+bf16"`` → ``("cgrdn.x", "bf16")``.

    A ``+`` followed by text with ``.``, ``/`` or ``\\`` belongs to the name or path.

    Parameters
    ----------
    spec : str
        A registry name or ``.safetensors`` path, optionally with ``+auto``, ``+bf16`` or ``+fp32``.

    Returns
    -------
    name : str
        The spec without the suffix.
    numeric : str
        'auto', 'bf16' or 'fp32' (lower case); 'auto' without a suffix.

    Raises
    ------
    ValueError
        If the suffix is not one of auto, bf16, fp32.
    """
    base, at, suffix = str(spec).rpartition("+")
    if not at or "." in suffix or "/" in suffix or "\\" in suffix:  # a '+' inside a name or path
        return str(spec), "auto"
    if suffix.lower() not in NUMERIC_SUFFIXES:
        raise ValueError(f"model {spec!r}: unknown numeric suffix +{suffix}; use +auto, +bf16 or +fp32 "
                         "(or none, which is +auto)")
    return base, suffix.lower()
