"""Reproduces the table of Yang et al., invariance-inducing regularization (spatial).

Paper: /work/shared/papers/invariance_inducing_regularization_spatial.txt
("Invariance-inducing regularization using worst-case transformations
suffices to boost accuracy and spatial robustness", NeurIPS 2019): the table
of std / D.A. / D.A.+KL / A.T. / A.T.+KL / A.T.+L2 with clean ("std") and
worst-case grid accuracy (775 transforms: 5 × 5 translations within ±3 px
× 31 rotations within ±30°), for SVHN, CIFAR-10 and CIFAR-100.

Columns of the paper → `ki.SpatialInvariance(base, preset=...)`:

    std        L(x)                                 preset="std"
    D.A.       L(x) + L(x̃), x̃ uniform in the box    preset="da"
    D.A.+KL    … + λ·KL(f(x) ‖ f(x̃))                preset="da_kl"
    A.T.       x̃ = worst of k=10 by the loss        preset="at"
    A.T.+KL    x̃ = worst of 10 by KL, + λ·KL        preset="at_kl"
    A.T.+L2    x̃ = worst of 10 by ‖z − z̃‖², + λ·‖z − z̃‖² on logits preset="at_l2"

Here each is a row; columns are test accuracy (%) on clean images, under
one random transform per image (`evaluation.random_transform_accuracy`),
and worst case over the grid (`evaluation.grid_accuracy`, `--grid 5 5 31`
= 775 points). λ = 1 (`--weight`); the poster does not give λ, the
architecture or the schedule. CIFAR-10 uses a pre-activation WRN-28-10 with
random crop + flip as global augmentation and WRN's SGD schedule; MNIST (not
in the paper) the Invariant BP paper's CNN with Adam.

Full scale (needs the data prepared for TFDS in DATA_DIR; the 775-point
grid over 10,000 test images dominates evaluation):

    python recipes/spatial_invariance.py --dataset cifar10 --data-dir DATA_DIR
    python recipes/spatial_invariance.py --dataset mnist --data-dir DATA_DIR

Tiny run on scikit-learn's digits zero-padded to 16×16 (no download):

    python recipes/spatial_invariance.py --dataset digits --epochs 1 --train-size 256 \\
        --test-size 128 --grid 3 3 5
"""

import os
import sys
import time

if __package__ in (None, ""):  # run as a script: make `recipes` importable
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import keras  # noqa: E402

import keras_invariance as ki  # noqa: E402
from keras_invariance import evaluation  # noqa: E402
from keras_invariance import spatial  # noqa: E402
from recipes import _common  # noqa: E402

RECIPE = "spatial_invariance"

#: mode → the paper's column name.
MODE_NAMES = {
    "std": "std",
    "da": "D.A.",
    "da_kl": "D.A.+KL",
    "at": "A.T.",
    "at_kl": "A.T.+KL",
    "at_l2": "A.T.+L2",
}

DEFAULTS = {
    "cifar10": dict(network="wrn", depth=28, width=10, optimizer="sgd",
                    epochs=200, batch_size=128, learning_rate=0.1, crop=4,
                    train_size=None, test_size=None),
    "mnist": dict(network="cnn", depth=None, width=None, optimizer="adam",
                  epochs=20, batch_size=64, learning_rate=1e-3, crop=0,
                  train_size=None, test_size=None),
    "digits": dict(network="cnn", depth=None, width=None, optimizer="adam",
                   epochs=30, batch_size=64, learning_rate=1e-3, crop=0,
                   train_size=None, test_size=None),
}


def parse_args(argv=None):
    parser = _common.build_parser(RECIPE, __doc__, ["cifar10", "mnist", "digits"])
    add = parser.add_argument
    add("--modes", nargs="+", choices=list(MODE_NAMES), default=list(MODE_NAMES),
        help="rows (`ki.SPATIAL_MODES`); default all six")
    add("--weight", "--lam", dest="weight", type=float, default=1.0,
        help="λ, the weight of KL / L2 (`--lam` is its old name)")
    add("--k", type=int, default=10, help="worst-of-k candidates (A.T.)")
    add("--attack", choices=["worst_of_k", "spgd"], default="worst_of_k",
        help="A.T. search (the paper's default worst-of-k, or S-PGD)")
    add("--translation", type=float, default=3.0, help="box |dx|, |dy| in pixels")
    add("--rotation", type=float, default=30.0, help="box |angle| in degrees")
    add("--grid", type=int, nargs=3, default=[5, 5, 31], metavar=("NX", "NY", "NA"),
        help="evaluation grid points (dx, dy, angle); 5 5 31 = the paper's 775")
    add("--depth", type=int, default=None, help="WRN depth (cifar10)")
    add("--width", type=int, default=None, help="WRN width (cifar10)")
    add("--digits-pad-to", type=int, default=16,
        help="zero-pad the 8×8 digits to this side (room to translate)")
    add("--weight-decay", type=float, default=5e-4, help="SGD weight decay (cifar10)")
    args = parser.parse_args(argv)
    unknown = set(args.modes) - set(ki.SPATIAL_MODES)
    if unknown:
        parser.error(f"modes {sorted(unknown)} are not in ki.SPATIAL_MODES")
    return _common.apply_defaults(args, DEFAULTS)


def methods(args):
    def builder(mode):
        def build(base, a):
            extra = {}
            if a.crop:
                extra["global_augmentation"] = _common.crop_flip(
                    a.image_size, a.crop, True, seed=a.seed)
            return ki.SpatialInvariance(
                base, preset=mode, weight=a.weight, translation=a.translation,
                rotation=a.rotation, attack=a.attack, k=a.k, seed=a.seed, **extra)
        return build

    return [_common.Method(MODE_NAMES[m], builder(m)) for m in args.modes]


def columns(args):
    grid = spatial.spatial_grid(args.translation, args.rotation, tuple(args.grid))
    box = dict(translation=args.translation, rotation=args.rotation)
    C = _common.accuracy_column
    return [
        C("std acc %", lambda m, x, y, a: evaluation.clean_accuracy(
            _common.predict_model(m), x, y)),
        C("random acc %", lambda m, x, y, a: evaluation.random_transform_accuracy(
            _common.predict_model(m), x, y, seed=a.seed + 1000, **box)),
        C(f"grid acc % ({len(grid)})", lambda m, x, y, a: evaluation.grid_accuracy(
            _common.predict_model(m), x, y, grid)),
    ]


def main(argv=None):
    args = parse_args(argv)
    start = time.perf_counter()
    data = _common.load_dataset(args, digits_pad_to=args.digits_pad_to)
    (x_train, _), (x_test, _) = data
    args.image_size = int(x_train.shape[1])

    def make_base():
        if args.network == "wrn":
            return _common.wide_resnet(
                x_train.shape[1:], 10, args.depth, args.width,
                x_train.mean(axis=(0, 1, 2)), x_train.std(axis=(0, 1, 2)) + 1e-6)
        return _common.ibp_cnn(x_train.shape[1:], 10, float(x_train.mean()))

    def make_optimizer(steps_per_epoch):
        if args.optimizer == "adam":
            return keras.optimizers.Adam(args.learning_rate)
        total = args.epochs * steps_per_epoch
        schedule = keras.optimizers.schedules.PiecewiseConstantDecay(
            [int(total * f) for f in (0.3, 0.6, 0.8)],
            [args.learning_rate * 0.2**i for i in range(4)])
        return keras.optimizers.SGD(schedule, momentum=0.9, nesterov=True,
                                    weight_decay=args.weight_decay)

    cols = columns(args)
    rows = _common.run_methods(methods(args), make_base, data, cols, args,
                               make_optimizer, _common.progress_stream(args))
    net = (f"WRN-{args.depth}-{args.width}" if args.network == "wrn"
           else "Invariant-BP CNN")
    title = (
        f"Spatial invariance, Yang et al. table ({args.dataset}, {net}, "
        f"{len(x_train)} train / {len(x_test)} test, {args.epochs} epochs, box "
        f"±{args.translation:g} px ±{args.rotation:g}°, λ={args.weight:g}, A.T. "
        f"{args.attack} k={args.k}, seed={args.seed}): test accuracy %"
    )
    return _common.report(args, title, rows, cols, time.perf_counter() - start)


if __name__ == "__main__":
    main()
