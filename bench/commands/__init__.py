"""Sub-commands of ``bench``: one module per command, each with ``register(subparsers)``."""
