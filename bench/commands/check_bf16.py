"""``bench check-bf16 MODEL [--record]``: whether a model's weights may restore in bf16 without moving what is measured.

Runs the quick precision-vs-dose study with ``MODEL+fp32`` and ``MODEL+bf16`` on the same noise realisations
(or reads a results directory holding both, ``--results``), prints how much bf16 changes each statistic in %
of the CRLB (:mod:`bench.bf16_check`) and exits 1 when any 95 % interval leaves ±5 % of it or more than 1 % of
fits are flagged by one path only. ``--record``
stores the verdict in the weights' sidecar, which is what lets ``numeric="auto"`` restore with these weights
in bf16 on CPUs that multiply bf16 natively (:func:`restore.numerics.inference_path`); it needs the quick
preset's whole coverage, so that a pass cannot come from a reduced study.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

PRESET_OVERRIDES = ("doses", "thicknesses", "realisations", "recipe")


def _preset(args: argparse.Namespace):
    """The precision-vs-dose study and its quick preset with the command line's overrides."""
    from bench.commands.run import PRESET_OPTIONS
    from bench.studies import get_study

    study = get_study("precision-vs-dose")
    given = {option: getattr(args, option, None) for option in PRESET_OVERRIDES}
    overrides = {PRESET_OPTIONS[o][0]: PRESET_OPTIONS[o][1](v) for o, v in given.items() if v is not None}
    return study, study.configure("quick", **overrides)


def _run(args: argparse.Namespace, study, preset, methods) -> Path:
    """Run the preset for both paths; return the results directory."""
    from bench.commands.run import run_options
    from bench.runner import run_study

    output = Path(args.output or Path("results") / f"check-bf16-{methods[0].name.rsplit('+', 1)[0]}")
    return run_study(study, preset, methods, output, options=run_options(args), command=_command())


def coverage_problem(config: dict) -> str | None:
    """Say why a precision-vs-dose run does not cover the quick preset, or None when it does.

    A passing record lets ``numeric="auto"`` restore in bf16, so it must rest on at least the quick preset's
    doses, thicknesses and realisations, on the same thickness series, field of view and fit.

    Parameters
    ----------
    config : dict
        The run's configuration (its manifest's ``config``).

    Returns
    -------
    str or None
        What is missing or different, in words.
    """
    from bench.studies import get_study

    study = get_study("precision-vs-dose")
    quick = study.configure("quick")
    expected = study.config(quick, study.inputs(quick))
    for key, value in expected.items():
        given = config.get(key)
        if key in ("doses", "thicknesses"):
            missing = sorted(set(value) - set(given or ()))
            if missing:
                return f"{key} {missing} of the quick preset are missing"
        elif key == "realisations":
            if (given or 0) < value:
                return f"{given} realisations, the quick preset has {value}"
        elif key not in ("name", "bootstrap", "example_atoms", "block_size") and given != value:
            return f"its {key} differs from the quick preset's"
    return None


def _measured_on(manifest: dict, bf16_name: str) -> str:
    """Where the run's bf16 path ran, from its manifest (a resumed run may predate this process)."""
    hardware = manifest.get("hardware", {})
    path = next((m.get("numeric_path", {}) for m in manifest.get("methods", []) if m.get("name") == bf16_name), {})
    device = str(path.get("device", "?"))
    if device.startswith("cuda"):
        where = ", ".join(hardware.get("gpu", [])) or "a CUDA GPU"
        native = "native bf16" if path.get("native_bf16") else "bf16 emulated (compute capability < 8.0)"
    else:
        where = (f"{hardware.get('cpu_model') or hardware.get('processor') or hardware.get('machine', '?')}, "
                 f"{hardware.get('cpu_count', '?')} CPUs")
        native = (f"native bf16 ({', '.join(path.get('cpu_flags', []))})" if path.get("native_bf16")
                  else "bf16 emulated (no AMX or AVX-512-BF16)")
    return f"{where}, device {device}; {native}"


def _check_weights_of_run(manifest: dict, names: tuple[str, str], sha256: str, directory) -> None:
    """ValueError unless both paths in the run were computed with the weights in hand."""
    recorded = {m.get("name"): m.get("sha256") for m in manifest.get("methods", [])}
    for name in names:
        if name not in recorded:
            raise ValueError(f"--results {directory}: {name} has no results here (methods: {sorted(recorded)}); run "
                             f"`bench run precision-vs-dose --methods {','.join(names)}` so that both share the noise")
        if recorded[name] != sha256:
            raise ValueError(f"--results {directory}: {name} was run with weights sha256 {recorded.get(name)}, not the "
                             f"{sha256} of MODEL; run the check again for these weights")


def _check_coverage(record: bool, config: dict, what: str) -> None:
    """ValueError, before anything is run or written, when a study to be recorded does not cover the quick preset."""
    problem = coverage_problem(config) if record else None
    if problem:
        raise ValueError(f"--record: the study {what} does not cover the quick preset ({problem}); a record must, so "
                         "that a pass cannot come from a reduced study: drop the reducing options or --record")


def _check_writable(weights: str) -> None:
    sidecar = Path(weights).with_suffix(".json")
    if not (os.access(sidecar, os.W_OK) and os.access(sidecar.parent, os.W_OK)):
        raise ValueError(f"--record: {sidecar} cannot be written (a read-only install?); copy the .safetensors with "
                         "its .json to a folder you can write and check that path")


def _handle(args: argparse.Namespace) -> int:
    from _shared.files import write_bytes_atomic
    from _shared.model_spec import split_numeric
    from _shared.results import ResultStore
    from bench.bf16_check import bf16_changes, bf16_verdict, changes_text, path_names
    from bench.cli import check_device, check_model_spec
    from bench.commands.run import build_methods, check_workers
    from bench.methods.cnn import FAMILY as CNN_FAMILY
    from restore.checkpoint import record_in_sidecar
    from restore.numerics import BF16_CHECK_KEY

    check_model_spec(args.model, option="MODEL")
    if split_numeric(args.model)[1] != "auto" or args.model.endswith("+auto"):
        raise ValueError(f"MODEL {args.model}: give the model without +auto/+bf16/+fp32; both paths are run")
    check_workers(args.workers)
    device = check_device(args.device)
    if not CNN_FAMILY.matches(args.model):
        raise ValueError(f"MODEL {args.model}: not a restoration network; give a registered model (`bench models "
                         "list`) or a .safetensors checkpoint")
    methods, _ = build_methods(list(path_names(args.model)), None, device)
    if args.record:
        _check_writable(methods[0].weights)
    model = methods[0].name.rsplit("+", 1)[0]
    names = (methods[0].name, methods[1].name)
    if args.results:
        store = ResultStore.load(Path(args.results))
        if store.study != "precision-vs-dose":
            raise ValueError(f"--results {args.results} holds {store.study!r} results; it must hold precision-vs-dose "
                             f"results with {model}+fp32 and {model}+bf16")
        _check_weights_of_run(store.manifest, names, methods[0].sha256, store.directory)
        _check_coverage(args.record, store.manifest.get("config", {}), f"in --results {store.directory}")
    else:
        study, preset = _preset(args)
        _check_coverage(args.record, study.config(preset, study.inputs(preset)), "asked for")
        store = ResultStore.load(_run(args, study, preset, methods))
    realisations = store.read_table("realisations")
    changes = bf16_changes(realisations, store.read_table("summary"), model)
    table = store.directory / f"bf16_check_{model}.csv"
    write_bytes_atomic(table, changes.to_csv(index=False).encode())
    verdict = bf16_verdict(changes, weights_sha256=methods[0].sha256, preset=str(store.manifest.get("preset", "?")),
                           realisations=int(realisations["realisation"].nunique()), command=_command(),
                           cpu=_measured_on(store.manifest, names[1]),
                           torch_version=str(store.manifest.get("versions", {}).get("torch", "?")))
    print(f"bf16 − fp32 of {model} on the same noise, % of the CRLB (95 % paired bootstrap; 'moved': r.m.s. "
          "change of one fitted coordinate or SCS):")
    print(changes_text(changes))
    word = "PASS" if verdict["passed"] else "FAIL"
    print(f"bench check-bf16: {word} — largest change {verdict['largest_pct_crlb']:.2f} % of the CRLB "
          f"({verdict['largest_at']}), bound {verdict['bound_pct_crlb']:g} %; fits flagged by one path only "
          f"{verdict['flag_changed_pct']:.2f} % (bound {verdict['flag_changed_bound_pct']:g} %); table: {table}")
    if "emulated" in verdict["measured_on"]:
        print("note: bf16 was emulated (no AMX or AVX-512-BF16), so its run was slow; the numbers hold all the same")
    if args.record:
        record_in_sidecar(methods[0].weights, BF16_CHECK_KEY, {**verdict, "covers_quick_preset": True})
        effect = ("numeric 'auto' now restores with these weights in bf16 where the CPU has AMX or AVX-512-BF16 and "
                  "on GPUs that have bf16" if verdict["passed"] else "numeric 'auto' keeps float32 for these weights")
        print(f"recorded in {Path(methods[0].weights).with_suffix('.json')}: {effect}")
    return 0 if verdict["passed"] else 1


def _command() -> str:
    """The command line as typed, with the program's name rather than its path (it goes into a shipped file)."""
    return " ".join([Path(sys.argv[0]).name, *sys.argv[1:]])


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``bench check-bf16`` to the command line.

    Parameters
    ----------
    subparsers : argparse._SubParsersAction
        The sub-command collection of the ``bench`` parser.
    """
    from bench.commands.run import add_study_arguments

    parser = subparsers.add_parser(
        "check-bf16", help="measure whether a model's weights may restore in bf16 (and record it)",
        description="Run the quick precision-vs-dose study with MODEL+fp32 and MODEL+bf16 on the same noise "
                    "realisations and print how much bf16's rounding changes position and SCS precision, bias and "
                    "RMSE, in % of the CRLB with 95 % paired-bootstrap intervals; exit 1 when any interval leaves "
                    "±5 % of the CRLB or the paths flag different fits (> 1 %). --record stores the verdict in the "
                    "weights' sidecar: numeric 'auto' restores in bf16 only with weights whose recorded check passed "
                    "(docs/benchmarks.md, bf16 inference).")
    parser.add_argument("model", metavar="MODEL", help="a registered model or a .safetensors path (no +suffix)")
    parser.add_argument("--results", metavar="DIR",
                        help="judge an existing precision-vs-dose results directory holding MODEL+fp32 and "
                             "MODEL+bf16 instead of running the study")
    parser.add_argument("--record", action="store_true",
                        help="store the verdict in the weights' sidecar (MODEL.json beside the .safetensors); needs "
                             "the quick preset's whole coverage")
    parser.add_argument("--output", "-o", help="results directory of the run (default results/check-bf16-MODEL)")
    parser.add_argument("--doses", help="comma-separated doses in e⁻/Å² (default: the quick preset's)")
    parser.add_argument("--thicknesses", help="comma-separated thicknesses (default: the quick preset's)")
    parser.add_argument("--realisations", type=int, help="noise realisations per point (default: the quick preset's)")
    add_study_arguments(parser)
    parser.set_defaults(handler=_handle)
