"""``bench train CONFIG``: train the CGRDN restoration network (see restore.train)."""
from __future__ import annotations

import os


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "train", help="train the CGRDN on synthetic pairs (GPU recommended)",
        description="Train the CGRDN (+ relativistic PatchGAN) from a TOML/JSON TrainingConfig. Launch with "
                    "`torchrun --nproc_per_node N -m bench train …` for N GPUs (NCCL) or N CPU processes "
                    "(gloo). Checkpoints are atomic; --resume continues exactly (with the same N).")
    parser.add_argument("config", help="training config (.toml or .json); see restore/training_config.py")
    parser.add_argument("-o", "--output", required=True, help="run directory (logs, checkpoints, model)")
    parser.add_argument("--resume", action="store_true", help="continue from the run directory's latest checkpoint")
    parser.add_argument("--device", default=None, help="torch device (default: CUDA when available, else CPU)")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    parser.set_defaults(handler=run)


def run(args) -> int:
    from restore.train import train
    from restore.training_config import TrainingConfig

    config = TrainingConfig.read(args.config)
    result = train(config, args.output, resume=args.resume, device=args.device, progress=not args.no_progress)
    if os.environ.get("RANK", "0") == "0":  # under torchrun every rank returns here; one report is enough
        print(f"trained to step {result.step}; validation {result.validation}; run directory {result.run_dir}")
    return 0
