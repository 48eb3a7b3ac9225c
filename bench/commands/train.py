"""``bench train CONFIG``, ``bench train-cache`` and ``bench train-step``: training the CGRDN (restore.train).

- ``bench train CONFIG -o RUN [--resume] [--init-from WEIGHTS] [--max-minutes M]``: train in resumable
  chunks (restore.train);
- ``bench train-cache build|verify``: pre-generate seeded training pairs on disk (restore.pair_cache);
- ``bench train-step``: time one optimiser step per network size, patch, numeric path and layout
  (restore.step_timing).
"""
from __future__ import annotations

import os


def register(subparsers) -> None:
    """Add ``bench train``, ``bench train-cache`` and ``bench train-step`` to the command line.

    Parameters
    ----------
    subparsers : argparse._SubParsersAction
        The sub-command collection of the ``bench`` parser.
    """
    parser = subparsers.add_parser(
        "train", help="train the CGRDN on synthetic pairs (CPU or GPU, in resumable chunks)",
        description="Train the CGRDN (+ relativistic PatchGAN) from a TOML/JSON TrainingConfig. The numeric "
                    "path (config bf16 = auto|bf16|fp32: bf16 autocast where the CPU has AMX or AVX-512-BF16 "
                    "or on CUDA) is printed at the start. Launch with `torchrun --nproc_per_node N -m bench "
                    "train …` for N GPUs (NCCL) or N CPU processes (gloo). Checkpoints are atomic; --resume "
                    "continues exactly (with the same N); --max-minutes, SIGTERM or Ctrl-C end a chunk with a "
                    "checkpoint.")
    parser.add_argument("config", help="training config (.toml or .json); see restore/training_config.py")
    parser.add_argument("-o", "--output", required=True, help="run directory (logs, checkpoints, model)")
    parser.add_argument("--resume", action="store_true",
                        help="continue from the run directory's latest checkpoint (with --init-from: start from "
                             "those weights when the run directory has no checkpoint)")
    parser.add_argument("--init-from", default=None, metavar="WEIGHTS",
                        help="start a new run from trained CGRDN weights (.safetensors path or registered name, "
                             "e.g. cgrdn.hrstem_default): fresh optimiser, init_warmup_steps of warm-up")
    parser.add_argument("--max-minutes", type=float, default=None,
                        help="time budget of this chunk: validate, checkpoint and stop after the first step past "
                             "it (resume later with --resume)")
    parser.add_argument("--device", default=None, help="torch device (default: CUDA when available, else CPU)")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    parser.set_defaults(handler=run)
    _register_cache(subparsers)
    _register_step(subparsers)


def _weights(name_or_path: str):
    from pathlib import Path

    if name_or_path.endswith(".safetensors"):
        return Path(name_or_path)
    from restore.registry import resolve_weights

    return resolve_weights(name_or_path)


def run(args) -> int:
    """Run ``bench train``: train (or resume) the CGRDN from a config and print a summary on rank 0.

    Parameters
    ----------
    args : argparse.Namespace
        The parsed ``bench train`` options.

    Returns
    -------
    int
        The exit status, 0.
    """
    from restore.train import train
    from restore.training_config import TrainingConfig

    config = TrainingConfig.read(args.config)
    init_from = None if args.init_from is None else _weights(args.init_from)
    result = train(config, args.output, resume=args.resume, device=args.device, progress=not args.no_progress,
                   init_from=init_from, max_minutes=args.max_minutes)
    if os.environ.get("RANK", "0") == "0":  # under torchrun every rank returns here; one report is enough
        lineage = result.lineage
        print(f"trained to step {result.step} ({result.stopped_by}); validation {result.validation}; "
              f"{result.numeric_path.describe()}; totals over chunks: {lineage.get('steps')} steps, "
              f"{lineage.get('cpu_hours', 0):.3f} CPU-h, {lineage.get('gpu_hours', 0):.3f} GPU-h; "
              f"run directory {result.run_dir}")
    return 0


def _register_cache(subparsers) -> None:
    parser = subparsers.add_parser(
        "train-cache", help="pre-generate seeded training pairs on disk (data spec cache:DIR)",
        description="Pair i of a cache is pair i of the synthetic stream with the same modality, size and seed, "
                    "so `data = \"cache:DIR\"` trains on the same pairs without generating them. Shards and "
                    "manifest are written atomically; an interrupted build continues where it stopped.")
    actions = parser.add_subparsers(dest="action", required=True)
    build = actions.add_parser("build", help="generate (or complete, or extend) a cache")
    build.add_argument("--modality", default="hrstem", help="modality of the pairs (default hrstem)")
    build.add_argument("--size", type=int, default=256, help="pair side [px] (default 256)")
    build.add_argument("--pairs", type=int, required=True, help="number of pairs")
    build.add_argument("--seed", type=int, default=0, help="data-set seed = the training config's seed (default 0)")
    build.add_argument("--first-index", type=int, default=0, help="stream index of the first pair (default 0)")
    build.add_argument("--dtype", default="float32", choices=("float32", "float16"),
                       help="storage type: float32 is exact, float16 halves the disk (default float32)")
    build.add_argument("--shard-pairs", type=int, default=64, help="pairs per shard file (default 64)")
    build.add_argument("--workers", type=int, default=2, help="generating processes (default 2)")
    build.add_argument("-o", "--output", default=None,
                       help="cache folder (default: <cache root>/pair-cache/<modality>-<size>px-seed<seed>)")
    build.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    verify = actions.add_parser("verify", help="check the shards' SHA-256 and regenerate a few pairs")
    verify.add_argument("directory", help="cache folder (or a bare name: a folder of <cache root>/pair-cache)")
    verify.add_argument("--regenerate", type=int, default=4, help="pairs to regenerate and compare (default 4)")
    parser.set_defaults(handler=run_cache)


def run_cache(args) -> int:
    """Run ``bench train-cache build|verify``: build (or extend) a pair cache, or verify one.

    Parameters
    ----------
    args : argparse.Namespace
        The parsed ``bench train-cache`` options; ``args.action`` is ``build`` or ``verify``.

    Returns
    -------
    int
        The exit status, 0.
    """
    from restore.pair_cache import build_pair_cache, default_cache_dir, spec_of, verify_pair_cache

    if args.action == "verify":
        report = verify_pair_cache(args.directory, regenerate=args.regenerate)
        print(f"{args.directory}: {report['shards']} shards, {report['pairs']} pairs, SHA-256 ok; regenerated pairs "
              f"{report['regenerated']} equal the cache")
        return 0
    directory = args.output or default_cache_dir(args.modality, args.size, args.seed)
    manifest = build_pair_cache(directory, modality=args.modality, size=args.size, pairs=args.pairs, seed=args.seed,
                                first_index=args.first_index, dtype=args.dtype, shard_pairs=args.shard_pairs,
                                workers=args.workers, progress=not args.no_progress)
    size = sum(entry["bytes"] for entry in manifest["shards"].values())
    print(f"pair cache {directory}: {manifest['pairs']} pairs in {len(manifest['shards'])} shards "
          f"({size / 2**30:.2f} GiB); train with data = \"{spec_of(directory)}\"")
    return 0


def _register_step(subparsers) -> None:
    parser = subparsers.add_parser(
        "train-step", help="time one training step (sizes × patches × fp32/bf16 × layout × GAN)",
        description="Median wall time of one optimiser step of the trainer (full loss basket, Adam, EMA; the "
                    "PatchGAN where asked) on this CPU, variants interleaved within each (size, patch) group.")
    parser.add_argument("--sizes", nargs="+", default=["full", "1.45M", "interim"],
                        help="CGRDN sizes: full, 1.45M, interim, tiny (default: the first three)")
    parser.add_argument("--patches", nargs="+", type=int, default=[64, 128], help="patch sides [px]")
    parser.add_argument("--batch", type=int, default=8, help="pairs per step (default 8)")
    parser.add_argument("--dtypes", nargs="+", default=["fp32", "bf16"], choices=("fp32", "bf16"))
    parser.add_argument("--layouts", nargs="+", default=["contiguous", "channels-last"],
                        choices=("contiguous", "channels-last"))
    parser.add_argument("--gan", choices=("off", "on", "both"), default="both",
                        help="the PatchGAN (only for patches ≥ 70 px; default both)")
    parser.add_argument("--repeats", type=int, default=5, help="timed steps per variant (default 5)")
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    parser.add_argument("--json", default=None, help="also write the results to this JSON file")
    parser.set_defaults(handler=run_step)


def run_step(args) -> int:
    """Run ``bench train-step``: time one optimiser step per variant and print a Markdown table.

    Parameters
    ----------
    args : argparse.Namespace
        The parsed ``bench train-step`` options.

    Returns
    -------
    int
        The exit status, 0.
    """
    import json

    import torch

    from _shared.provenance import cpu_model
    from restore.numerics import numeric_path
    from restore.step_timing import GAN_MIN_PX, StepVariant, parameters, time_steps

    if args.threads:
        torch.set_num_threads(args.threads)
    gans = {"off": [False], "on": [True], "both": [False, True]}[args.gan]
    variants = [StepVariant(size, patch, args.batch, dtype, layout == "channels-last", gan)
                for size in args.sizes for patch in args.patches for gan in gans
                if not (gan and patch < GAN_MIN_PX) for dtype in args.dtypes for layout in args.layouts]
    load = os.getloadavg()
    print(f"# {cpu_model()}, {torch.get_num_threads()} threads, torch {torch.__version__}; "
          f"{numeric_path('auto', 'cpu').describe()}; load average before {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}",
          flush=True)
    results = time_steps(variants, repeats=args.repeats, progress=lambda line: print(line, flush=True))
    load = os.getloadavg()
    print(f"# load average after {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    print("| size (parameters) | batch × patch | GAN | numeric path | layout | median step [s] | min–max [s] |")
    print("|---|---|---|---|---|---|---|")
    for r in results:
        layout = "channels-last" if r["channels_last"] else "contiguous"
        print(f"| {r['size']} ({parameters(r['size']) / 1e6:.2f} M) | {r['batch']} × {r['patch_px']}² | "
              f"{'on' if r['gan'] else 'off'} | {r['dtype']} | {layout} | {r['median_s']:.3f} | "
              f"{r['min_s']:.3f}–{r['max_s']:.3f} |")
    if args.json:
        with open(args.json, "w") as handle:
            json.dump({"cpu": cpu_model(), "threads": torch.get_num_threads(), "torch": torch.__version__,
                       "load_after": load, "results": results}, handle, indent=1)
    return 0
