"""Answered: does bfloat16 training pay on this CPU? 1.37x (vgg32) to 1.65x (vgg48 camera) with AMX (docs/experiments.md).

Training throughput of an architecture in float32 and in mixed bfloat16, on this CPU.

Why: ``train --precision mixed_bfloat16`` only pays off where the CPU has bfloat16 units
(AMX or AVX512-BF16); this measures the gain before committing hours of training to it.
Random faces, the recipe's optimizer, augmentation in the graph as in training; pause other
jobs first, the figures are compute-bound.

    python experiments/bench_precision.py [--arch vgg] [--width 32] [--batch 64] [--augment strong]
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def train_faces_per_s(arch: str, width: int, batch: int, augment: str, precision: str, steps: int) -> float:
    """Faces per second of ``train_on_batch`` after three warm-up steps."""
    import keras

    from fer_core.training.architectures import build, dtype_policy
    from fer_core.common.labels import NUM_CLASSES

    with dtype_policy(precision):
        model, spec = build(arch, NUM_CLASSES, augment=augment, width=width)
    model.compile(optimizer=keras.optimizers.AdamW(1e-3), loss="categorical_crossentropy")
    rng = np.random.default_rng(0)
    x = rng.random((batch, *spec.shape), dtype=np.float32)
    y = keras.utils.to_categorical(rng.integers(0, NUM_CLASSES, batch), NUM_CLASSES)
    for _ in range(3):
        model.train_on_batch(x, y)
    start = time.perf_counter()
    for _ in range(steps):
        model.train_on_batch(x, y)
    return steps * batch / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--arch", default="vgg")
    parser.add_argument("--width", type=int, default=32)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--augment", default="strong")
    parser.add_argument("--steps", type=int, default=20)
    args = parser.parse_args()
    from fer_core.common.quiet import import_tensorflow_quietly

    import_tensorflow_quietly()
    rates = {p: train_faces_per_s(args.arch, args.width, args.batch, args.augment, p, args.steps)
             for p in ("float32", "mixed_bfloat16")}
    for precision, rate in rates.items():
        print(f"{args.arch}{args.width} batch {args.batch} {args.augment}: {precision:15s} {rate:6.0f} faces/s")
    print(f"speed-up {rates['mixed_bfloat16'] / rates['float32']:.2f}x")


if __name__ == "__main__":
    main()
