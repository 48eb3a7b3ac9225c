"""``bench models list``, ``import-r-em PATH`` and ``export RUN --name``: the restoration model registry."""
from __future__ import annotations


def register(subparsers) -> None:
    parser = subparsers.add_parser("models", help="list restoration models; import the published tk_r_em models",
                                   description="Manage the restoration model registry (names arch.tag).")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    listing = actions.add_parser("list", help="list known and installed models")
    listing.set_defaults(handler=run_list)
    importer = actions.add_parser(
        "import-r-em", help="convert the tk_r_em 1.0.4 SavedModels to our checkpoints (no TensorFlow needed)",
        description="Give PATH — the sdist from `pip download --no-deps --no-binary :all: tk_r_em==1.0.4`, its "
                    "unpacked folder, or the tk_r_em package folder — or --download, which runs that pip "
                    "command into a cache and imports in one step. The weights are GPL-3.0 and stay on your "
                    "machine, in the user model directory.")
    importer.add_argument("path", nargs="?", help="tk_r_em-1.0.4.tar.gz or its unpacked folder")
    importer.add_argument("--download", action="store_true",
                          help="fetch tk_r_em 1.0.4 from the package index with pip (once; kept in --cache)")
    importer.add_argument("--cache", default=None,
                          help="folder for the downloaded sdist (default: ~/.cache/stem-restore-bench/downloads)")
    importer.add_argument("--output", default=None, help="destination (default: the user model directory)")
    importer.add_argument("--only", nargs="+", default=None, help="import only these models (e.g. sfr_hrstem)")
    importer.set_defaults(handler=run_import)
    exporter = actions.add_parser(
        "export", help="install a finished training run's EMA generator as a registry model",
        description="Copy RUN/model.safetensors (the EMA generator written at the run's last step) to the "
                    "package's restore/weights (or --output) as NAME.safetensors with a sidecar holding the "
                    "config, data recipe, steps, wall time, hardware, loss weights and SHA-256.")
    exporter.add_argument("run", help="run directory of `bench train CONFIG -o RUN`")
    exporter.add_argument("--name", required=True, help="registry name arch.tag, e.g. cgrdn.hrstem_default")
    exporter.add_argument("--output", default=None, help="destination folder (default: restore/weights)")
    exporter.add_argument("--hardware", default=None,
                          help="where it was trained (default: each chunk's hardware as the run recorded it)")
    exporter.add_argument("--checkpoint", default=None, metavar="latest|step_NNNNNNNN",
                          help="export a checkpoint's EMA generator (a run trained in chunks that has not reached the "
                               "end of its schedule) instead of the final model")
    exporter.add_argument("--notes", default=None, help="free text stored in the sidecar")
    exporter.set_defaults(handler=run_export)
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
    from restore.tf_import import download_r_em, import_r_em

    if args.path and args.download:
        raise ValueError("give either PATH or --download, not both")
    if not args.path and not args.download:
        raise ValueError("give the sdist's PATH or --download (fetches tk_r_em 1.0.4 with pip)")
    source = args.path
    if args.download:
        source = download_r_em(args.cache)
        print(f"using {source}")
    destination = args.output or user_model_dir()
    for path in import_r_em(source, destination, names=args.only):
        print(f"wrote {path}")
    return 0


def run_export(args) -> int:
    from restore.export import export_run
    from restore.registry import PACKAGE_WEIGHTS

    path = export_run(args.run, args.name, args.output or PACKAGE_WEIGHTS, hardware=args.hardware, notes=args.notes,
                      checkpoint=args.checkpoint)
    print(f"wrote {path} (+ {path.with_suffix('.json').name})")
    return 0
