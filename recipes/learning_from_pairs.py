"""Reproduces the experiments of Zhang & Arodz, "Learning Invariance in Deep
Neural Networks" (§3-§5), at a small size by default.

Two experiments, each saved as PNG plus a `results.json`:

1. Supervised invariant code (§3, §4; Figs. 1 and 3). An
   `InvariantAutoencoder` in `mode="target"` learns `z = DFT(x)` (as
   `[modulus, sin, cos]` or `[modulus, phase]`) with lambda = 8, for MLP
   encoders/decoders with SELU, ReLU, sigmoid and tanh activations and width
   8d, against depth, and for the extended layer. The plot shows the test MSE
   of each part of the code (modulus first) against depth
   (`supervised_mse_vs_depth_d{d}.png`).
2. Invariance learned from pairs (§5; Figs. 4 and 5). An
   `InvariantAutoencoder` built from extended layers learns from triples
   `(x, x', d*)` for circular shift, two-part shift, a fixed random cycle
   permutation, and shift plus scaling. The plot shows the test
   reconstruction MSE (red) and the test invariance MSE (eq. 2, blue) per
   epoch (`pairs_invariance_d{d}.png`).

The paper trains with SGD (batch 128) on 60,000/10,000 samples and does not
state its epoch count, learning rate, alpha or delta; this recipe uses Adam
with a cosine-decayed learning rate and gradient clipping (the extended
layer's error keeps falling where a constant rate leaves it at a noise
floor), alpha = delta = 1, and the epoch counts below. `--full` switches to the
paper's sizes (d = 10 and 20, depths 2..20, 60k/10k samples), which takes
hours on a CPU.

Usage:

    python recipes/learning_from_pairs.py                 # small, minutes
    python recipes/learning_from_pairs.py --full          # paper size
    python recipes/learning_from_pairs.py --skip-supervised \
        --transformations two_part_shift --num-train 16384 --pair-epochs 60
"""

import argparse
import json
import os
import time

import numpy as np

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

from keras_invariance.datasets import invariance_pairs as ip  # noqa: E402
from keras_invariance.pairs import InvariantAutoencoder  # noqa: E402
from keras_invariance.pairs import build_extended_network  # noqa: E402
from keras_invariance.pairs import build_mlp  # noqa: E402

ACTIVATIONS = ("selu", "relu", "sigmoid", "tanh")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--full", action="store_true",
                        help="Paper size: d=10,20, depths 2..20, 60k/10k.")
    parser.add_argument("--output-dir", default="outputs/learning_from_pairs")
    parser.add_argument("--dims", type=int, nargs="+", default=None)
    parser.add_argument("--depths", type=int, nargs="+", default=None,
                        help="MLP depths (hidden layers).")
    parser.add_argument("--extended-depths", type=int, nargs="+",
                        default=None, help="Numbers of extended layers.")
    parser.add_argument("--activations", nargs="+", default=list(ACTIVATIONS))
    parser.add_argument("--representation", default="modulus_sin_cos",
                        choices=["modulus_sin_cos", "modulus_phase"])
    parser.add_argument("--num-train", type=int, default=None)
    parser.add_argument("--num-test", type=int, default=None)
    parser.add_argument("--epochs", type=int, default=None,
                        help="Epochs of the supervised experiment.")
    parser.add_argument("--pair-epochs", type=int, default=None,
                        help="Epochs of the learning-from-pairs experiment.")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--learning-rate", type=float, default=1e-2,
                        help="Adam learning rate, supervised experiment.")
    parser.add_argument("--schedule", default="cosine",
                        choices=["constant", "cosine"],
                        help="Supervised learning-rate schedule (cosine "
                        "decays to 1%%).")
    parser.add_argument("--clipnorm", type=float, default=1.0,
                        help="Adam gradient clipping (both experiments); "
                        "two stacked extended layers diverged without it "
                        "at a constant learning rate of 1e-2.")
    parser.add_argument("--pair-learning-rate", type=float, default=3e-3,
                        help="Initial Adam learning rate (cosine decay to "
                        "1%%), pairs experiment.")
    parser.add_argument("--invariance-weight", type=float, default=None,
                        help="lambda; default 8 (§3) supervised, 10 pairs.")
    parser.add_argument("--transformations", nargs="+",
                        default=list(ip.TRANSFORMATIONS),
                        choices=list(ip.TRANSFORMATIONS))
    parser.add_argument("--pair-depth", type=int, default=1,
                        help="Extended layers in the pairs encoder/decoder.")
    parser.add_argument("--invariant-dim", type=int, default=None,
                        help="Width of z_inv (and of z_var) in the pairs "
                        "experiment; default d.")
    parser.add_argument("--alpha", default="1.0",
                        help="alpha of eq. (2), pairs experiment, or 'auto' "
                        "for 1 / median(d*^2) over the training pairs with "
                        "d* > 0, so that alpha d^2 is about 1 for a typical "
                        "unrelated pair.")
    parser.add_argument("--delta", type=float, default=1.0,
                        help="delta of eq. (2), pairs experiment.")
    parser.add_argument("--skip-supervised", action="store_true")
    parser.add_argument("--skip-pairs", action="store_true")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    small = dict(dims=[10], depths=[1, 2, 4], extended_depths=[1, 2],
                 num_train=8192, num_test=2000, epochs=40, pair_epochs=40)
    full = dict(dims=[10, 20], depths=list(range(2, 21, 2)),
                extended_depths=[1, 2, 3, 4], num_train=60000,
                num_test=10000, epochs=100, pair_epochs=100)
    for key, value in (full if args.full else small).items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    return args


def _dataset(inputs, targets, batch_size, seed, shuffle=True):
    ds = tf.data.Dataset.from_tensor_slices((inputs, targets))
    if shuffle:
        ds = ds.shuffle(len(targets), seed=seed, reshuffle_each_iteration=True)
    return ds.batch(batch_size).prefetch(tf.data.AUTOTUNE)


def _network(kind, input_dim, output_dim, depth, width):
    if kind == "extended":
        return build_extended_network(input_dim, output_dim, depth, width)
    return build_mlp(input_dim, output_dim, depth, width, activation=kind)


def supervised_experiment(args, dim, log):
    """§3/§4: MSE of each part of the learned code against depth."""
    (xt, zt), (xv, zv) = ip.make_supervised_dataset(
        args.num_train, args.num_test, dim, args.representation, args.seed
    )
    parts = (["modulus", "sin", "cos"]
             if args.representation == "modulus_sin_cos"
             else ["modulus", "phase"])
    lam = 8.0 if args.invariance_weight is None else args.invariance_weight
    width = 8 * dim
    results = []
    runs = [(a, depth) for a in args.activations for depth in args.depths]
    runs += [("extended", depth) for depth in args.extended_depths]
    for kind, depth in runs:
        keras.utils.set_random_seed(args.seed)
        start = time.time()
        code = zt.shape[-1]
        ae = InvariantAutoencoder(
            _network(kind, dim, code, depth, width),
            _network(kind, code, dim, depth, width),
            invariant_dim=code,
            mode="target",
            invariance_weight=lam,
        )
        lr = args.learning_rate
        if args.schedule == "cosine":
            steps = args.epochs * -(-args.num_train // args.batch_size)
            lr = keras.optimizers.schedules.CosineDecay(lr, steps, alpha=0.01)
        ae.compile(optimizer=keras.optimizers.Adam(lr, clipnorm=args.clipnorm),
                   steps_per_execution=16)
        ae.fit(_dataset(xt, zt, args.batch_size, args.seed),
               epochs=args.epochs, verbose=0)
        z = ae.invariant_code(xv).numpy()
        part_mse = {
            name: float(np.mean((z[:, i * dim:(i + 1) * dim]
                                 - zv[:, i * dim:(i + 1) * dim]) ** 2))
            for i, name in enumerate(parts)
        }
        metrics = ae.evaluate(xv, zv, batch_size=1000, verbose=0,
                              return_dict=True)
        row = dict(dim=dim, kind=kind, depth=depth, parts=part_mse,
                   **{k: float(v) for k, v in metrics.items()},
                   seconds=round(time.time() - start, 1))
        results.append(row)
        log(f"[supervised d={dim}] {kind:8s} depth {depth:2d}: modulus MSE "
            f"{part_mse['modulus']:.2e}, code MSE "
            f"{row['invariance_loss']:.2e}, reconstruction "
            f"{row['reconstruction_loss']:.2e} ({row['seconds']}s)")
    return results


def _shift_ratio(ae, dim, transformation, rng, cycle=None, n=2000):
    x = ip.uniform_features(n, dim, rng)
    same = ip.transform(x, transformation, rng, cycle)
    other = ip.uniform_features(n, dim, rng)
    z = ae.invariant_code(x).numpy()
    d_same = np.linalg.norm(z - ae.invariant_code(same).numpy(), axis=-1)
    d_other = np.linalg.norm(z - ae.invariant_code(other).numpy(), axis=-1)
    return float(d_same.mean() / d_other.mean())


def _alpha(value, d):
    if value != "auto":
        return float(value)
    positive = d[d > 0]
    return float(1.0 / np.median(positive**2)) if positive.size else 1.0


def pairs_experiment(args, dim, log):
    """§5: invariance learned from (x, x', d*) triples."""
    lam = 10.0 if args.invariance_weight is None else args.invariance_weight
    results = []
    for transformation in args.transformations:
        keras.utils.set_random_seed(args.seed)
        start = time.time()
        train, test = ip.make_pair_dataset(
            transformation, args.num_train, args.num_test, dim, seed=args.seed
        )
        alpha = _alpha(args.alpha, train[1])
        k = args.invariant_dim or dim
        ae = InvariantAutoencoder(
            build_extended_network(dim, 2 * k, depth=args.pair_depth),
            build_extended_network(2 * k, dim, depth=args.pair_depth),
            invariant_dim=k,
            mode="pairs",
            invariance_weight=lam,
            alpha=alpha,
            delta=args.delta,
        )
        steps = args.pair_epochs * -(-args.num_train // args.batch_size)
        schedule = keras.optimizers.schedules.CosineDecay(
            args.pair_learning_rate, steps, alpha=0.01
        )
        ae.compile(
            optimizer=keras.optimizers.Adam(schedule, clipnorm=args.clipnorm),
            steps_per_execution=16,
        )
        history = ae.fit(
            _dataset(*train, args.batch_size, args.seed),
            validation_data=_dataset(*test, 1000, args.seed, shuffle=False),
            epochs=args.pair_epochs,
            verbose=0,
        ).history
        cycle = None
        if transformation == "permutation":
            # make_pair_dataset draws the cycle from its first stream.
            cycle = ip.random_cycle(
                dim, np.random.default_rng(args.seed).spawn(3)[0]
            )
        ratio = _shift_ratio(ae, dim, transformation,
                             np.random.default_rng(args.seed + 1), cycle)
        (x1, x2), d = test
        d_hat = np.linalg.norm(
            ae.invariant_code(x1).numpy() - ae.invariant_code(x2).numpy(),
            axis=-1,
        )
        row = dict(
            dim=dim,
            transformation=transformation,
            alpha=alpha,
            invariance_mse=float(history["val_invariance_loss"][-1]),
            reconstruction_mse=float(history["val_reconstruction_loss"][-1]),
            same_over_unrelated_distance=ratio,
            distance_mse=float(np.mean((d_hat - d) ** 2)),
            history={k: [float(v) for v in vals]
                     for k, vals in history.items()},
            seconds=round(time.time() - start, 1),
        )
        results.append(row)
        log(f"[pairs d={dim}] {transformation:15s} (alpha {alpha:.3g}): "
            f"invariance MSE "
            f"{row['invariance_mse']:.2e}, reconstruction "
            f"{row['reconstruction_mse']:.2e}, same/unrelated z_inv distance "
            f"{ratio:.3f}, (d_hat - d*)^2 {row['distance_mse']:.2e} "
            f"({row['seconds']}s)")
    return results


def plot_supervised(results, dim, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows_d = [r for r in results if r["dim"] == dim]
    parts = list(rows_d[0]["parts"]) if rows_d else []
    fig, axes = plt.subplots(1, len(parts), figsize=(4.5 * len(parts), 4),
                             squeeze=False)
    for ax, part in zip(axes[0], parts):
        for kind in dict.fromkeys(r["kind"] for r in rows_d):
            rows = sorted((r for r in rows_d if r["kind"] == kind),
                          key=lambda r: r["depth"])
            ax.plot([r["depth"] for r in rows],
                    [r["parts"][part] for r in rows],
                    marker="o", label=kind,
                    linewidth=2.5 if kind == "extended" else 1.2)
        ax.set_yscale("log")
        ax.set_xlabel("depth (hidden layers / extended layers)")
        ax.set_title(f"{part} part of z")
    axes[0][0].set_ylabel("test MSE")
    axes[0][0].legend()
    fig.suptitle(f"Supervised invariant code z* = DFT(x), d = {dim}")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_pairs(results, dim, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in results if r["dim"] == dim]
    fig, axes = plt.subplots(1, len(rows), figsize=(4 * len(rows), 3.5),
                             squeeze=False)
    for ax, row in zip(axes[0], rows):
        history = row["history"]
        epochs = np.arange(1, len(history["val_invariance_loss"]) + 1)
        ax.plot(epochs, history["val_reconstruction_loss"], color="red",
                label="reconstruction")
        ax.plot(epochs, history["val_invariance_loss"], color="blue",
                label="invariance (eq. 2)")
        ax.axhline(1e-4, color="gray", linestyle=":", linewidth=1)
        ax.set_yscale("log")
        ax.set_xlabel("epoch")
        ax.set_title(row["transformation"])
    axes[0][0].set_ylabel("test MSE")
    axes[0][0].legend()
    fig.suptitle(f"Invariance learned from pairs, d = {dim}")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv=None):
    args = parse_args(argv)
    os.makedirs(args.output_dir, exist_ok=True)
    log_path = os.path.join(args.output_dir, "log.txt")

    def log(message):
        print(message, flush=True)
        with open(log_path, "a") as f:
            f.write(message + "\n")

    log(f"config: {vars(args)}")
    results = {"config": vars(args), "supervised": [], "pairs": []}
    results_path = os.path.join(args.output_dir, "results.json")
    for dim in args.dims:
        if not args.skip_supervised:
            results["supervised"] += supervised_experiment(args, dim, log)
            plot_supervised(
                results["supervised"], dim,
                os.path.join(args.output_dir,
                             f"supervised_mse_vs_depth_d{dim}.png"),
            )
            by_depth = {}
            for r in results["supervised"]:
                if r["dim"] == dim:
                    by_depth.setdefault(r["depth"], {})[r["kind"]] = (
                        r["parts"]["modulus"]
                    )
            for depth, mse in sorted(by_depth.items()):
                if "extended" in mse and "selu" in mse:
                    log(f"[supervised d={dim}] depth {depth}: SELU / extended "
                        f"modulus MSE = {mse['selu'] / mse['extended']:.1f}x")
        if not args.skip_pairs:
            results["pairs"] += pairs_experiment(args, dim, log)
            plot_pairs(results["pairs"], dim,
                       os.path.join(args.output_dir,
                                    f"pairs_invariance_d{dim}.png"))
        with open(results_path, "w") as f:
            json.dump(results, f, indent=1)
    log(f"wrote {results_path}")
    return results


if __name__ == "__main__":
    main()
