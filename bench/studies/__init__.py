"""The quantitative studies of the suite, one module each (see docs/studies.md), registered once.

A study module subclasses :class:`bench.studies.base.Study` and registers one instance at import with
:func:`register_study`; :func:`studies` imports every module of this package, so a new study is one new file
here (and its tests). ``bench run``, ``bench check`` and ``bench report`` find studies only through
:func:`get_study` and :func:`studies`.
"""
from __future__ import annotations

import importlib
import pkgutil
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bench.studies.base import Study

_REGISTRY: dict[str, Study] = {}


def register_study(study: Study) -> Study:
    """Add a study to the registry (called once, at the end of its module).

    Registering an instance of the same class again (e.g. on a module reload) replaces it.

    Parameters
    ----------
    study : Study
        The study instance; its ``name`` is the registry key.

    Returns
    -------
    Study
        ``study`` itself.

    Raises
    ------
    ValueError
        If another study class already has the name.
    """
    previous = _REGISTRY.get(study.name)
    if previous is not None and type(previous).__qualname__ != type(study).__qualname__:
        raise ValueError(f"study name {study.name!r} is registered twice ({type(previous).__module__} and "
                         f"{type(study).__module__}); give the new study another name")
    _REGISTRY[study.name] = study
    return study


def _import_all() -> None:
    for info in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{info.name}")


def studies() -> list[Study]:
    """Return every registered study, in the paper's order; every module of this package is imported first.

    Returns
    -------
    list of Study
        Sorted by the studies' ``order``, then name.
    """
    _import_all()
    return sorted(_REGISTRY.values(), key=lambda study: (study.order, study.name))


def study_names() -> list[str]:
    """Return the names of :func:`studies`.

    Returns
    -------
    list of str
        The study names, in the paper's order.
    """
    return [study.name for study in studies()]


def get_study(name: str) -> Study:
    """Return the registered study called ``name``.

    Parameters
    ----------
    name : str
        The study's name (``precision-vs-dose``, ``atom-counting``, …).

    Returns
    -------
    Study
        The registered instance.

    Raises
    ------
    ValueError
        For an unknown study (the message lists the available ones).
    """
    if name not in _REGISTRY:
        _import_all()
    if name not in _REGISTRY:
        raise ValueError(f"unknown study {name!r}; available: {', '.join(study_names())}")
    return _REGISTRY[name]
