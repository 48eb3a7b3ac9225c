"""``bench models list``, ``import-r-em PATH``, ``export RUN --name`` and ``fidelity MODEL…``: the model registry."""
from __future__ import annotations


def register(subparsers) -> None:
    """Add ``bench models`` and its actions to the command line.

    Parameters
    ----------
    subparsers : argparse._SubParsersAction
        The sub-command collection of the ``bench`` parser.
    """
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
    fidelity = actions.add_parser(
        "fidelity", help="what a model changes in noise-free images (the infinite-dose limit of precision-vs-dose)",
        description="Restore the expected, noise-free images of the precision-vs-dose series (dose only sets the "
                    "intensity scale) and fit them as the study does: the position shifts, SCS changes, widths and "
                    "contrast a method introduces there are a lower bound on its high-dose bias. Seconds per "
                    "model: a training campaign's quick check of each checkpoint.")
    fidelity.add_argument("methods", nargs="+", metavar="METHOD",
                          help="models (arch.tag or PATH.safetensors, with +fp32/+bf16) or bm3d; raw is always shown")
    fidelity.add_argument("--preset", default="quick", help="precision-vs-dose preset whose series and fit are used")
    fidelity.add_argument("--thicknesses", default=None, help="comma-separated atoms per column (default: preset's)")
    fidelity.add_argument("--dose", type=float, default=5e4, help="dose [e⁻/Å²] setting the intensity scale")
    fidelity.add_argument("--output", default=None, help="also write the table as parquet here")
    fidelity.add_argument("--lattices", action="store_true",
                          help="also restore noise-free square lattices of Gaussian columns (σ 1-1.5 px, 6-14 px "
                               "apart) and print how much contrast each method keeps, in all and along each scan axis")
    fidelity.set_defaults(handler=run_fidelity)
    parser.set_defaults(handler=lambda args: parser.print_help() or 2)


def run_list(args) -> int:
    """Print the known and installed models.

    Parameters
    ----------
    args : argparse.Namespace
        The parsed command line.

    Returns
    -------
    int
        Exit status, 0 on success.
    """
    from restore.registry import list_models, user_model_dir

    print(f"user model directory: {user_model_dir()}")
    for row in list_models():
        state = row["path"] or "not installed"
        print(f"{row['name']:<24} {row['modality'] or '-':<8} {state}\n{'':<24} {row['description']}")
        if row["path"]:
            print(f"{'':<24} {_bf16_state(row['path'])}")
    return 0


def _bf16_state(path: str) -> str:
    """One line on whether numeric 'auto' may restore with these weights in bf16 (their sidecar's record)."""
    from restore.checkpoint import bf16_check_of, read_sidecar
    from restore.numerics import bf16_check_passed

    try:
        check = bf16_check_of(read_sidecar(path))
    except (OSError, ValueError):
        return "bf16: sidecar unreadable"
    if check is None:
        return "bf16: not checked, numeric auto restores in float32 (`bench check-bf16 NAME --record`)"
    verdict = "passed, numeric auto restores in bf16 where native" if bf16_check_passed(check) else \
        "not passed, numeric auto restores in float32"
    return (f"bf16: check {verdict} (largest change {check.get('largest_pct_crlb')} % of the CRLB, bound "
            f"{check.get('bound_pct_crlb')} %; {check.get('date')})")


def run_import(args) -> int:
    """Import the published tk_r_em models from an sdist, its folder or pip.

    Parameters
    ----------
    args : argparse.Namespace
        The parsed command line.

    Returns
    -------
    int
        Exit status, 0 on success.

    Raises
    ------
    ValueError
        If both or neither of PATH and ``--download`` are given.
    """
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
    print("numeric 'auto' restores with imported weights in float32 until a bf16 check of them passes; for the "
          "HR-STEM model, `bench check-bf16 cgrdn.sfr_hrstem --record` (≈ 1 min on 2 cores) measures and records it "
          "(bf16 was 1.2-1.9x faster than float32 on an AVX-512-BF16 CPU, docs/benchmarks.md)")
    return 0


def run_export(args) -> int:
    """Install a training run's EMA generator (or a checkpoint's) as a named model.

    Parameters
    ----------
    args : argparse.Namespace
        The parsed command line.

    Returns
    -------
    int
        Exit status, 0 on success.
    """
    from restore.export import export_run
    from restore.registry import PACKAGE_WEIGHTS

    path = export_run(args.run, args.name, args.output or PACKAGE_WEIGHTS, hardware=args.hardware, notes=args.notes,
                      checkpoint=args.checkpoint)
    print(f"wrote {path} (+ {path.with_suffix('.json').name})")
    return 0


def run_fidelity(args) -> int:
    """Print what each method changes in the noise-free precision-vs-dose images.

    Parameters
    ----------
    args : argparse.Namespace
        The parsed command line.

    Returns
    -------
    int
        Exit status, 0 on success.

    Raises
    ------
    ValueError
        For an unknown preset or method, or a method that trains on the study's noisy data.
    """
    from dataclasses import replace

    from _shared.files import write_table_atomic
    from bench.commands.run import parse_list
    from bench.fidelity import fidelity_verdict, format_fidelity, lattice_transfer, noise_free_fidelity
    from bench.methods import POISSON, learns_from_data, make_method
    from bench.studies.precision_vs_dose import PRESETS

    if args.preset not in PRESETS:
        raise ValueError(f"--preset {args.preset!r} is unknown; choose one of {', '.join(PRESETS)}")
    preset = PRESETS[args.preset]
    thicknesses = parse_list(args.thicknesses, int, "thicknesses")
    if thicknesses:
        preset = replace(preset, thicknesses=thicknesses)
    specs = ["raw"] + [spec for spec in args.methods if spec != "raw"]
    methods = [make_method(spec) for spec in specs]
    trained = [m.name for m in methods if learns_from_data(m)]
    if trained:
        raise ValueError(f"{', '.join(trained)} train(s) on a study's noisy data, which noise-free images do not "
                         "provide; give pretrained models or bm3d")
    for method in methods:
        if hasattr(method, "numeric_path"):
            print(f"{method.name}: {method.numeric_path().describe()}")
    restorers = {m.name: (lambda images, m=m: m(images, POISSON)) for m in methods}
    table = noise_free_fidelity(restorers, preset=preset, dose_e_per_A2=args.dose)
    print(f"noise-free Pt [001] images at {args.dose:g} e⁻/Å² ({preset.pixel_size_A} Å pixels), fitted as "
          f"precision-vs-dose ({args.preset}) fits a realisation:")
    print(format_fidelity(table, list(restorers)))
    for name, ok in fidelity_verdict(table).items():
        print(f"{name}: {'within' if ok else 'OUTSIDE'} 0.5 pm and 2 % at every thickness")
    if args.lattices:
        lattices = lattice_transfer(restorers)
        for column, what in (("contrast_transfer", "std(restored) / std(lattice)"),
                             ("fast_axis_transfer", "fundamental along x (fast scan), restored / lattice"),
                             ("slow_axis_transfer", "fundamental along y (slow scan), restored / lattice")):
            print(f"noise-free square lattices of Gaussian columns: {what}")
            print(lattices.pivot(index="method", columns=["spacing_px", "sigma_px"], values=column)
                  .reindex(list(restorers)).to_string(float_format=lambda v: f"{v:.3f}"))
    if args.output:
        write_table_atomic(args.output, table)
        print(f"wrote {args.output}")
    return 0
