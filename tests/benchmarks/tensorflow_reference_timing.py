"""Time the published TensorFlow tk_r_em model on the CPU, as the reference for our restoration speed.

Not a test and not a project dependency: run it with a separate environment that has TensorFlow and the
user's own ``pip download tk_r_em==1.0.4`` copy (never committed), e.g.::

    python -m venv /tmp/tfenv && /tmp/tfenv/bin/pip install tensorflow-cpu==2.15.1
    /tmp/tfenv/bin/python tests/benchmarks/tensorflow_reference_timing.py SAVEDMODEL_DIR THREADS SIZE REPEATS [OUT.npy]

SAVEDMODEL_DIR is ``tk_r_em/models/sfr_hrstem`` of the unpacked sdist. The input is the same seeded
Poisson(5) image as ``tests/benchmarks/test_restore_speed.py``'s ``_image``; the whole image is restored in
one pass (as tk_r_em does), after a warm-up on a 64² image. OUT.npy receives the restored image, for the
comparison with ours (docs/benchmarks.md).
"""
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402


def main(argv: list[str]) -> int:
    if len(argv) not in (4, 5):
        print(__doc__)
        return 2
    model_dir, threads, size, repeats = argv[0], int(argv[1]), int(argv[2]), int(argv[3])
    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    serve = tf.saved_model.load(model_dir).signatures["serving_default"]
    key = next(iter(serve.structured_input_signature[1]))
    image = np.random.default_rng(0).poisson(5.0, (size, size)).astype(np.float32)
    serve(**{key: tf.constant(np.ones((1, 64, 64, 1), np.float32))})  # graph tracing
    for _ in range(repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        restored = next(iter(serve(**{key: tf.constant(image[None, :, :, None])}).values())).numpy()[0, :, :, 0]
        print(f"tk_r_em threads {threads} size {size}: wall {time.perf_counter() - wall:.2f} s, "
              f"CPU {time.process_time() - cpu:.2f} s", flush=True)
    if len(argv) == 5:
        np.save(argv[4], restored)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
