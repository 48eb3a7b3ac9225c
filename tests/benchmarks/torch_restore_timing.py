"""Time our restoration of one image in a fresh process: the counterpart of ``tensorflow_reference_timing.py``.

Not a test: run it under ``/usr/bin/time -f %M`` for the peak memory, alternating with the TensorFlow script::

    .venv/bin/python tests/benchmarks/torch_restore_timing.py MODEL THREADS SIZE REPEATS NUMERIC

MODEL is a registered name (``cgrdn.sfr_hrstem`` after ``bench models import-r-em``, ``cgrdn.hrstem_default``)
or a ``.safetensors`` path; NUMERIC is ``fp32`` (float32; the CPU's Winograd dense blocks), ``bf16`` (bf16
autocast, direct convolutions) or ``auto`` (what ``bench restore`` would choose for these weights here). The
input is the seeded Poisson(5) image of the TensorFlow script; the whole image is restored in one pass
(``tile`` = SIZE, as tk_r_em does) after a warm-up on a 64² image. Prints the numeric path, then wall and CPU
time per repeat.
"""
import sys
import time

import numpy as np
import torch

from restore.inference import numeric_path_for, restore_image
from restore.registry import load_registered_model


def main(argv: list[str]) -> int:
    if len(argv) != 5:
        print(__doc__)
        return 2
    name, threads, size, repeats, numeric = argv[0], int(argv[1]), int(argv[2]), int(argv[3]), argv[4]
    torch.set_num_threads(threads)
    model, _ = load_registered_model(name)
    print(f"{name}: {numeric_path_for(numeric, 'cpu', bf16_check=model.bf16_check).describe()}", flush=True)
    image = np.random.default_rng(0).poisson(5.0, (size, size)).astype(np.float32)
    restore_image(np.ones((64, 64), np.float32), model, tile=64, device="cpu", numeric=numeric)
    for _ in range(repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        restored = restore_image(image, model, tile=size, device="cpu", numeric=numeric)
        print(f"ours {name} {numeric} threads {threads} size {size}: wall {time.perf_counter() - wall:.2f} s, "
              f"CPU {time.process_time() - cpu:.2f} s", flush=True)
    assert np.isfinite(restored).all()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
