"""The ground floor every room stands on: atomic file writes, SHA-256 digests, provenance, the results layout.

``bench``, ``restore``, ``simulate``, ``fitting`` and ``reports`` may all import ``_shared``; ``_shared`` imports
none of them (tested by ``tests/test_imports.py``). It holds machinery, never physics, so that each concept —
how a file is written without leaving half of it behind, which library versions made a result, where a
study's results lie — is written once.
"""
