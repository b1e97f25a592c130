"""Training-step time of each IRL preset vs plain `fit()` of the same model.

Same model (MLP 64→256→256→10 on scikit-learn digits scaled to [0, 1]),
same data, same batch size, same process. Every model is built and warmed
up once (one epoch: tracing), then all are timed round-robin over several
rounds, so that load from other processes falls on every method alike. A
per-batch callback records each step; the table reports the median step
time and its ratio to plain `fit()` of a plain `keras.Model`.

IRL with K = 1 does two passes' worth of work (clean + perturbed), so the
target is ≤ 2.0× plain (irl_invariant_representation_learning.txt, eq. 1–2
with K = 1; eq. 4 for IRL batching). `irl_loss_k1_fixed_shift` replaces the
Gaussian draw by a fixed affine map, to separate the cost of the random
numbers from the cost of the passes (with `--jit` on CPU the draw dominates).

Usage:
    python benchmarks/irl_step_times.py [--quick] [--epochs 3] [--rounds 3]
        [--batch 128] [--jit] [--methods plain irl_loss_k1 ...]
"""

import argparse
import os
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import keras  # noqa: E402
from _timing import StepTimer  # noqa: E402

import keras_invariance as ki  # noqa: E402
from keras_invariance.datasets import digits  # noqa: E402

NOISE = 0.3
#: Targets as a ratio to plain fit() (K = 1: two passes' worth of work).
TARGETS = {"irl_loss_k1": 2.0, "irl_batching": 2.0, "data_augmentation": 2.0}


def build_base(seed=0):
    keras.utils.set_random_seed(seed)
    return digits.digits_classifier(hidden_units=(256, 256))


def _irl(**kwargs):
    return lambda base: ki.IRL(base, perturbation=ki.GaussianNoise(NOISE), **kwargs)


METHODS = {
    "plain": lambda base: base,
    "plain_invariant_model": lambda base: ki.IRL(base, preset="plain"),
    "data_augmentation": _irl(preset="data_augmentation"),
    "irl_batching": _irl(preset="irl_batching"),
    "irl_batching_separate": _irl(preset="irl_batching", batching="separate"),
    "irl_loss_k1": _irl(preset="irl_loss"),
    "irl_loss_k1_separate": _irl(preset="irl_loss", batching="separate"),
    "irl_loss_k2": _irl(preset="irl_loss", num_samples=2),
    "irl_c_k1": _irl(preset="irl_loss", layers="above:hidden_1"),
    # No random draw: isolates the RNG's cost (large under XLA on CPU, where
    # stateless_normal's default algorithm is slow).
    "irl_loss_k1_fixed_shift": lambda base: ki.IRL(
        base, perturbation=ki.FunctionPerturbation(lambda x: 0.8 * x + 0.05)
    ),
}




def build(name, jit):
    model = METHODS[name](build_base())
    model.compile(
        optimizer=keras.optimizers.Adam(1e-3),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        jit_compile=jit,
    )
    return model


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3, help="timed epochs per round")
    parser.add_argument("--rounds", type=int, default=3, help="round-robin rounds")
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--jit", action="store_true", help="compile(jit_compile=True)")
    parser.add_argument("--quick", action="store_true", help="1 epoch × 2 rounds")
    parser.add_argument("--methods", nargs="*", default=list(METHODS), choices=list(METHODS))
    args = parser.parse_args(argv)
    if args.quick:
        args.epochs, args.rounds = 1, 2
    (x, y), _ = digits.load_digits(test_size=0.1)
    # Drop the last partial batch so every step has the same shape.
    rows = len(x) // args.batch * args.batch
    x, y = x[:rows], y[:rows]
    names = ["plain"] + [m for m in args.methods if m != "plain"]

    start = time.perf_counter()
    models = {}
    for name in names:
        models[name] = build(name, args.jit)
        models[name].fit(x, y, batch_size=args.batch, epochs=1, verbose=0, shuffle=False)
    times = {name: [] for name in names}
    for _ in range(args.rounds):
        for name in names:
            timer = StepTimer()
            models[name].fit(
                x, y, batch_size=args.batch, epochs=args.epochs, verbose=0,
                shuffle=False, callbacks=[timer],
            )
            times[name] += timer.times
    median = {name: statistics.median(t) for name, t in times.items()}

    steps = len(times["plain"])
    print(
        f"MLP 64-256-256-10 on digits ({rows} rows), batch {args.batch}, "
        f"jit_compile={args.jit}, median of {steps} steps "
        f"({args.rounds} rounds × {args.epochs} epochs), Gaussian σ={NOISE}"
    )
    print(f"{'method':<24}{'ms/step':>9}{'ratio':>8}{'target':>12}")
    for name in names:
        ratio = median[name] / median["plain"]
        target = TARGETS.get(name)
        mark = "" if target is None else f"≤{target:.2f} " + ("ok" if ratio <= target else "MISS")
        print(f"{name:<24}{median[name] * 1e3:>9.3f}{ratio:>8.2f}{mark:>12}")
    print(f"total {time.perf_counter() - start:.0f} s")
    return median


if __name__ == "__main__":
    main()
