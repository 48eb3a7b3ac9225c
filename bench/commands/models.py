"""``bench models list`` and ``bench models import-r-em PATH``: the restoration model registry."""
from __future__ import annotations


def register(subparsers) -> None:
    parser = subparsers.add_parser("models", help="list restoration models; import the published tk_r_em models",
                                   description="Manage the restoration model registry (names arch.tag).")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    listing = actions.add_parser("list", help="list known and installed models")
    listing.set_defaults(handler=run_list)
    importer = actions.add_parser(
        "import-r-em", help="convert the tk_r_em 1.0.4 SavedModels to our checkpoints (no TensorFlow needed)",
        description="PATH: the sdist from `pip download --no-deps --no-binary :all: tk_r_em==1.0.4`, its "
                    "unpacked folder, or the tk_r_em package folder. The weights are GPL-3.0 and stay on "
                    "your machine, in the user model directory.")
    importer.add_argument("path", help="tk_r_em-1.0.4.tar.gz or its unpacked folder")
    importer.add_argument("--output", default=None, help="destination (default: the user model directory)")
    importer.add_argument("--only", nargs="+", default=None, help="import only these models (e.g. sfr_hrstem)")
    importer.set_defaults(handler=run_import)
    parser.set_defaults(handler=lambda args: parser.print_help() or 2)


def run_list(args) -> int:
    from restore.registry import list_models, user_model_dir

    print(f"user model directory: {user_model_dir()}")
    for row in list_models():
        state = row["path"] or "not installed"
        print(f"{row['name']:<24} {row['modality'] or '-':<8} {state}\n{'':<24} {row['description']}")
    return 0


def run_import(args) -> int:
    from restore.registry import user_model_dir
    from restore.tf_import import import_r_em

    destination = args.output or user_model_dir()
    for path in import_r_em(args.path, destination, names=args.only):
        print(f"wrote {path}")
    return 0
