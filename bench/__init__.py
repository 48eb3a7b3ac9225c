"""The ``bench`` command: studies comparing raw, BM3D and CNN-restored STEM images against the CRLB.

``bench`` is the only package that may import all the others (simulate, fitting, restore, reports).
"""
from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("stem-restore-bench")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.0.0+unknown"
