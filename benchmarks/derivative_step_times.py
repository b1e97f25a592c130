"""Training-step time of each derivative / adversarial method vs plain `fit()`.

Same model (MLP 64→256→256→10 on scikit-learn digits scaled to [0, 1]),
same data, same batch size, same process. Each method is warmed up (one
epoch: tracing and compilation), then timed over several epochs with a
per-batch callback; the table reports the median time per step and its
ratio to plain `fit()` of the same Keras model. Targets are the paper's
(invariant_backpropagation.txt, Table 1) where it gives one.

Usage:
    python benchmarks/derivative_step_times.py [--epochs 5] [--batch 128]
        [--jit] [--repeats 2]
"""

import argparse
import os
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import keras  # noqa: E402
import numpy as np  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402

from keras_invariance import derivative_methods as dm  # noqa: E402

TARGETS = {
    "loss_ibp": 1.5,
    "prediction_ibp": 1.75,
    "fast_at": 1.5,
    "fgsm_at": 1.8,
    "vat_1": 2.5,
}


def build_base(seed=0):
    keras.utils.set_random_seed(seed)
    return keras.Sequential(
        [
            keras.Input((64,)),
            keras.layers.Dense(256, activation="relu"),
            keras.layers.Dense(256, activation="relu"),
            keras.layers.Dense(10),
        ]
    )


METHODS = {
    "plain": lambda b: b,
    "plain_invariant_model": lambda b: dm.InvariantModel(b),
    "loss_ibp": lambda b: dm.LossIBP(b, beta=0.03),
    "loss_ibp_r2": lambda b: dm.LossIBP(b, beta=0.03, order=2),
    "prediction_ibp": lambda b: dm.PredictionIBP(b, beta=1.0),
    "fast_at": lambda b: dm.AdversarialTraining(b, kind="fast", epsilon=0.1),
    "fast_at_search": lambda b: dm.AdversarialTraining(
        b, kind="fast", epsilon=0.1, reuse_clean_pass=False
    ),
    "fgsm_at": lambda b: dm.AdversarialTraining(b, kind="fgsm", epsilon=0.1),
    "fgsm_at_search": lambda b: dm.AdversarialTraining(
        b, kind="fgsm", epsilon=0.1, reuse_clean_pass=False
    ),
    "pgd_7": lambda b: dm.AdversarialTraining(b, kind="pgd", epsilon=0.1, steps=7),
    "vat_1": lambda b: dm.VAT(b, epsilon=1.0),
    "noise_regularization": lambda b: dm.NoiseRegularized(b, stddev=0.1),
    "jacobian_proj_1": lambda b: dm.JacobianRegularized(b, num_projections=1),
    "jacobian_exact": lambda b: dm.JacobianRegularized(b),
    "at_kl_pgd_3": lambda b: dm.RegularizedAdversarialTraining(b, steps=3),
}


class StepTimer(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.times = []

    def on_train_batch_begin(self, batch, logs=None):
        self._start = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        # `logs` values are tensors until read: force the step to finish.
        if logs:
            float(next(iter(logs.values())))
        self.times.append(time.perf_counter() - self._start)


def time_method(name, x, y, epochs, batch, jit):
    model = METHODS[name](build_base())
    model.compile(
        optimizer=keras.optimizers.SGD(0.01),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        jit_compile=jit,
    )
    model.fit(x, y, batch_size=batch, epochs=1, verbose=0, shuffle=False)
    timer = StepTimer()
    model.fit(
        x, y, batch_size=batch, epochs=epochs, verbose=0, shuffle=False,
        callbacks=[timer],
    )
    return statistics.median(timer.times)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--jit", action="store_true")
    parser.add_argument("--methods", nargs="*", default=list(METHODS))
    args = parser.parse_args()
    digits = load_digits()
    # Drop the last partial batch so every step has the same shape.
    rows = len(digits.data) // args.batch * args.batch
    x = (digits.data[:rows] / 16.0).astype("float32")
    y = digits.target[:rows].astype("int32")
    names = ["plain"] + [m for m in args.methods if m != "plain"]
    best = {}
    # Interleave repeats so that load from other processes hits all methods.
    for _ in range(args.repeats):
        for name in names:
            t = time_method(name, x, y, args.epochs, args.batch, args.jit)
            best[name] = min(best.get(name, float("inf")), t)
    print(
        f"MLP 64-256-256-10, digits ({rows} rows), batch {args.batch}, "
        f"jit_compile={args.jit}, median step over {args.epochs} epochs, "
        f"best of {args.repeats} repeats"
    )
    print(f"{'method':<24}{'ms/step':>9}{'ratio':>8}{'target':>8}")
    for name in names:
        ratio = best[name] / best["plain"]
        target = TARGETS.get(name)
        mark = "" if target is None else f"{target:>7.2f}" + (
            " ok" if ratio <= target else " MISS"
        )
        print(f"{name:<24}{best[name] * 1e3:>9.3f}{ratio:>8.2f}{mark:>8}")


if __name__ == "__main__":
    main()
