"""Where a result came from: library versions, the git commit of this checkout, the hardware.

One :func:`library_versions` for every record the suite writes (simulation caches, shipped data, study
manifests, checkpoint sidecars); each caller names the packages that matter to it.
"""
from __future__ import annotations

import os
import platform
import subprocess
from collections.abc import Iterable
from importlib import metadata
from pathlib import Path
from typing import Any

# The packages whose versions a study manifest records.
STUDY_PACKAGES = ("stem-restore-bench", "numpy", "scipy", "pandas", "pyarrow", "torch", "abtem", "bm3d",
                  "matplotlib", "dask", "distributed")
# The packages whose physics enters a simulated image (the simulation cache key uses abtem and ase).
SIMULATION_PACKAGES = ("abtem", "ase", "numpy")


def package_version(name: str) -> str | None:
    """Return the installed version of distribution ``name``.

    Parameters
    ----------
    name : str
        Distribution name as pip knows it (``numpy``, ``stem-restore-bench`` …).

    Returns
    -------
    str or None
        The version string, or None when the distribution is not installed.
    """
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def library_versions(packages: Iterable[str] = STUDY_PACKAGES, *, python: bool = True) -> dict[str, str]:
    """Return the installed versions of ``packages`` (those not installed are left out), with Python's first.

    Parameters
    ----------
    packages : iterable of str
        Distribution names as pip knows them (``stem-restore-bench``, ``numpy`` …).
    python : bool, default True
        Include ``"python"``: the interpreter's version.

    Returns
    -------
    dict of str to str
        Name to version string, ``"python"`` first when included, then ``packages`` in their order.
    """
    versions = {"python": platform.python_version()} if python else {}
    for name in packages:
        found = package_version(name)
        if found is not None:
            versions[name] = found
    return versions


def git_commit(directory: str | os.PathLike | None = None) -> str | None:
    """Return ``git rev-parse HEAD`` of the checkout holding ``directory``.

    Parameters
    ----------
    directory : str or os.PathLike, optional
        A folder inside the checkout; by default the folder of this package.

    Returns
    -------
    str or None
        The full commit hash, or None outside a git work tree, without git, or when git fails or takes
        more than 10 s.
    """
    where = Path(directory) if directory is not None else Path(__file__).resolve().parent
    try:
        result = subprocess.run(["git", "rev-parse", "HEAD"], cwd=where, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return result.stdout.strip() or None


def cpu_model() -> str:
    """Return the CPU's model name.

    Returns
    -------
    str
        The "model name" of /proc/cpuinfo, else :func:`platform.processor`, else :func:`platform.machine`.
    """
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def hardware(**extra: Any) -> dict[str, Any]:
    """Describe this computer: machine, processor, logical CPU count and platform.

    Parameters
    ----------
    **extra
        Further entries added to the record (they override the built-in keys of the same name).

    Returns
    -------
    dict of str to Any
        ``machine``, ``processor``, ``cpu_model`` (:func:`cpu_model`), ``cpu_count`` and ``platform`` (from
        :mod:`platform` and :func:`os.cpu_count`), plus ``extra``.
    """
    return {"machine": platform.machine(), "processor": platform.processor(), "cpu_model": cpu_model(),
            "cpu_count": os.cpu_count(), "platform": platform.platform(), **extra}
