"""Training-step time of the spatial methods, relative to plain `fit()`.

Prints one row per configuration: its median training-step time (over
several epochs, first epoch excluded: it traces and compiles) and the ratio
to plain `fit()` of the same Keras model on the same data in the same
process, plus the ratio D.A. + KL / D.A. (both on the same paired batch,
L(x) + L(x̃)). Configurations are timed in interleaved rounds (every
configuration once per round) so that a change in machine load hits all of
them alike; each step time is the median over rounds of per-round medians.

Targets (issue 4): D.A. + KL ≤ 1.05 × D.A. (the spatial paper's "almost no
overhead"); Tangent BP with 5 tangents ≤ 3 × plain (Invariant BP, Table 1:
7.47 s / 1.51 s ≈ 4.9× on MNIST); worst-of-10: reported.

With `jit_compile=True` (the default here), TensorFlow 2.21 on CPU
recompiles the XLA train step at every call for the Tangent BP
configurations (forward-mode jvp; see `TangentProp`), so time those with
`--no-jit`; the other configurations are fine either way.

Usage:

    python benchmarks/spatial_step_times.py [--epochs 3] [--rounds 3]
        [--batch-size 64] [--size 16] [--examples 640] [--no-jit]
        [--only plain,da,da_kl]
"""

import argparse
import os
import statistics

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import keras  # noqa: E402
from _timing import StepTimer  # noqa: E402
import numpy as np  # noqa: E402

from keras_invariance.penalties.tangent_prop import TangentProp  # noqa: E402
from keras_invariance.model import InvariantModel  # noqa: E402
from keras_invariance.presets import FastTangentBP  # noqa: E402
from keras_invariance.presets import SpatialInvariance  # noqa: E402
from keras_invariance.presets import TangentBP  # noqa: E402

SCCE = keras.losses.SparseCategoricalCrossentropy(from_logits=True)


def digits(size):
    """scikit-learn digits (8×8), zero-padded to `size`×`size`."""
    from sklearn.datasets import load_digits

    data = load_digits()
    x = (data.images / 16.0).astype("float32")[..., None]
    pad = (size - 8) // 2
    x = np.pad(x, ((0, 0), (pad, size - 8 - pad), (pad, size - 8 - pad), (0, 0)))
    return x, data.target.astype("int32")


def cnn(size):
    inputs = keras.Input((size, size, 1))
    h = keras.layers.Conv2D(16, 3, activation="relu", padding="same")(inputs)
    h = keras.layers.MaxPooling2D()(h)
    h = keras.layers.Conv2D(32, 3, activation="relu", padding="same")(h)
    h = keras.layers.GlobalMaxPooling2D()(h)
    return keras.Model(inputs, keras.layers.Dense(10)(h))


CONFIGS = {
    "plain": ("plain fit()", lambda m: m),
    "da": ("D.A. (L(x) + L(x̃), random)", lambda m: SpatialInvariance(m, mode="da")),
    "da_kl": ("D.A. + KL", lambda m: SpatialInvariance(m, mode="da_kl")),
    "at_wo10": ("A.T. worst-of-10 (loss)", lambda m: SpatialInvariance(m, mode="at", k=10)),
    "at_kl_wo10": ("A.T. + KL worst-of-10 (KL)", lambda m: SpatialInvariance(m, mode="at_kl", k=10)),
    "at_spgd5": ("A.T. S-PGD 5 steps", lambda m: SpatialInvariance(m, mode="at", attack="spgd", steps=5)),
    "tbp5": ("Tangent BP, 5 tangents", lambda m: TangentBP(m, weight=0.01)),
    "tbp5_proj1": (
        "Tangent BP, 5 tangents, 1 random projection",
        lambda m: InvariantModel(m, penalties=[TangentProp(weight=0.01, num_projections=1)]),
    ),
    "fast_tbp5": ("Fast TBP, 5 tangents", lambda m: FastTangentBP(m, weight=0.01)),
}




def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--size", type=int, default=16)
    parser.add_argument("--examples", type=int, default=640,
                        help="examples per epoch (whole batches)")
    parser.add_argument("--no-jit", action="store_true")
    parser.add_argument("--only", default=",".join(CONFIGS))
    args = parser.parse_args()
    names = [n for n in args.only.split(",") if n]
    if "plain" not in names:
        names.insert(0, "plain")
    x, y = digits(args.size)
    n = min(len(x), args.examples) // args.batch_size * args.batch_size
    x, y = x[:n], y[:n]
    jit = not args.no_jit
    models = {}
    for name in names:
        keras.utils.set_random_seed(0)
        model = CONFIGS[name][1](cnn(args.size))
        model.compile(keras.optimizers.SGD(0.01), SCCE, jit_compile=jit)
        # Trace and compile outside the timed rounds.
        model.fit(x[: 2 * args.batch_size], y[: 2 * args.batch_size],
                  batch_size=args.batch_size, epochs=1, verbose=0)
        models[name] = model
        print(f"compiled {name}", flush=True)
    per_round = {name: [] for name in names}
    for _ in range(args.rounds):
        for name in names:
            timer = StepTimer()
            models[name].fit(x, y, batch_size=args.batch_size, epochs=args.epochs,
                             shuffle=False, verbose=0, callbacks=[timer])
            times = [t for epoch in timer.epochs[1:] or timer.epochs for t in epoch]
            per_round[name].append(statistics.median(times))
            print(f"  {name}: {1e3 * per_round[name][-1]:.2f} ms", flush=True)
    median = {name: statistics.median(v) for name, v in per_round.items()}
    print(f"spatial step times: digits {args.size}x{args.size}, batch "
          f"{args.batch_size}, jit_compile={jit}, {args.epochs} epochs x "
          f"{args.rounds} rounds")
    print(f"{'configuration':46s} {'step ms':>9s} {'x plain':>8s}")
    for name in names:
        print(f"{CONFIGS[name][0]:46s} {1e3 * median[name]:9.2f} "
              f"{median[name] / median['plain']:8.2f}")
    if "da" in median and "da_kl" in median:
        ratio = median["da_kl"] / median["da"]
        print(f"D.A. + KL / D.A. (same paired batch): {ratio:.3f} (target ≤ 1.05)")
    if "tbp5" in median:
        print(f"Tangent BP 5 tangents / plain: {median['tbp5'] / median['plain']:.2f} "
              "(target ≤ 3; IBP Table 1 ≈ 4.9)")
    if "at_wo10" in median:
        print(f"worst-of-10 / plain: {median['at_wo10'] / median['plain']:.2f}; "
              f"/ D.A.: {median['at_wo10'] / median.get('da', float('nan')):.2f}")


if __name__ == "__main__":
    main()
