"""Reproduces Table 1 (CIFAR-10) of "Invariant Representation Learning" (IRL).

Paper: /work/shared/papers/irl_invariant_representation_learning.txt, §3
"Image classification" and Table 1: Wide ResNet-28-10 on CIFAR-10, test
error with no noise, in-domain noise (brightness/contrast ±0.5 then PCA
lighting 0.1), out-of-domain noise (hue/saturation ±0.5) and FGSM at
ε = 0.2 and 0.8 (on the mean/std-normalized images).

Rows, (α, β, γ) as in the paper (the row names and presets are those of
`keras_invariance.integrations.cli.METHODS`, the `keras-invariance digits` job):

    plain              (1, 0, 0)      no noise (the "std." row)
    data augmentation  (0, 1, 0)      × noise in. and out.
    IRL batching       (½, ½, 0)      × noise in. and out.
    IRL loss           (½, ½, 1)      × noise in. and out.; γ = 1 on the
                                      last 4 blocks and the logits
                                      (`layers="above:block_9"` for WRN-28;
                                      see --block-gamma)

Every row uses the paper's global augmentation (random 4-pixel crop and
horizontal flip, applied identically to x and x̃ via `global_augmentation=`)
and starts from the same initial weights. Columns are test error (%) on the
clean test set, on one fixed in-domain and one fixed out-of-domain noisy
copy of it, and under FGSM at each `--fgsm-epsilons` (ε on normalized
images, i.e. ε·std_c per channel on pixels).

Training follows WRN's CIFAR schedule: SGD, Nesterov momentum 0.9, batch
128, weight decay 5e-4, learning rate 0.1 × 0.2 at 30%, 60% and 80% of 200
epochs. The paper's adversarial rows (training on FGSM) are not included.

Full scale (needs CIFAR-10 prepared for TFDS in DATA_DIR; hours per row on a
GPU, 7 rows):

    python recipes/irl_cifar.py --dataset cifar10 --data-dir DATA_DIR

Tiny run on scikit-learn's digits (colorized so the color noises act;
WRN-10-1, seconds, no download):

    python recipes/irl_cifar.py --dataset digits --epochs 1 --train-size 256 --test-size 128
"""

import os
import sys
import time

import numpy as np

if __package__ in (None, ""):  # run as a script: make `recipes` importable
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import keras  # noqa: E402

import keras_invariance as ki  # noqa: E402
from keras_invariance import evaluation  # noqa: E402
from keras_invariance.integrations import cli  # noqa: E402
from recipes import _common  # noqa: E402

RECIPE = "irl_cifar"

#: --noises name → (table label, noise class).
NOISES = {
    "in": ("in.", ki.perturbations.InDomainImageNoise),
    "out": ("out.", ki.perturbations.OutOfDomainImageNoise),
}

DEFAULTS = {
    "cifar10": dict(depth=28, width=10, epochs=200, batch_size=128,
                    learning_rate=0.1, crop=4, flip=True, train_size=None,
                    test_size=None),
    "digits": dict(depth=10, width=1, epochs=20, batch_size=64,
                   learning_rate=0.05, crop=1, flip=False, train_size=None,
                   test_size=None),
}


def parse_args(argv=None):
    parser = _common.build_parser(RECIPE, __doc__, ["cifar10", "digits"])
    add = parser.add_argument
    add("--depth", type=int, default=None, help="WRN depth 6n+4 (cifar10: 28)")
    add("--width", type=int, default=None, help="WRN widening factor (cifar10: 10)")
    add("--noises", nargs="+", choices=sorted(NOISES), default=["in", "out"],
        help="training noises of the non-plain rows")
    add("--tap-blocks", type=int, default=4,
        help="IRL loss taps the last N residual blocks and the logits")
    add("--layers", default=None,
        help="override the IRL loss taps, e.g. 'above:block_9' or 'logits' "
        "(then every γ_ℓ = 1)")
    add("--block-gamma", choices=["per_unit", "one"], default="per_unit",
        help="γ_ℓ of each tapped block: 1/(units of the block output) "
        "(default; ‖u−v‖² summed over a conv block's H·W·C units made the "
        "IRL loss diverge) or 1 as in the paper; the logits keep γ_ℓ = 1")
    add("--gamma", type=float, default=None, help="γ of the IRL loss rows (default 1)")
    add("--num-samples", type=int, default=1, help="K noisy copies per example")
    add("--fgsm-epsilons", type=float, nargs="+", default=[0.2, 0.8],
        help="FGSM ε on normalized images (paper: 0.2 0.8)")
    add("--weight-decay", type=float, default=5e-4)
    add("--crop", type=int, default=None, help="random-crop padding in pixels")
    add("--no-flip", dest="flip", action="store_false", default=None)
    args = parser.parse_args(argv)
    return _common.apply_defaults(args, DEFAULTS)


def irl_methods(args):
    """The rows: plain, then each `cli.METHODS` row with noise × each noise."""
    methods = []
    for method in cli.METHODS:
        preset = method.name.lower().replace(" ", "_")  # "IRL loss" → irl_loss
        assert preset in ki.IRL_PRESETS, preset
        noises = [None] if preset == "plain" else args.noises
        for noise in noises:
            name = method.name if noise is None else f"{method.name} ({NOISES[noise][0]})"
            methods.append(_common.Method(name, _builder(preset, noise)))
    return methods


def _builder(preset, noise):
    def build(base, args):
        perturbation = None
        if noise is not None:
            perturbation = NOISES[noise][1](value_range=(0.0, 1.0), seed=args.seed)
        return ki.IRL(
            base,
            perturbation=perturbation,
            preset=preset,
            weight=args.gamma if preset == "irl_loss" else None,
            layers=args.layers,
            num_samples=args.num_samples,
            global_augmentation=_common.crop_flip(
                args.image_size, args.crop, args.flip, seed=args.seed
            ),
        )

    return build


def noisy_copy(noise_cls, x, seed, batch_size=1024):
    """One fixed noisy copy of the test set (the same for every row)."""
    noise = noise_cls(value_range=(0.0, 1.0), seed=seed)
    return np.concatenate([
        np.asarray(noise.perturb(x[i:i + batch_size]))
        for i in range(0, len(x), batch_size)
    ])


def columns(args, noisy_tests, std):
    cols = [_common.error_column(
        "clean err %",
        lambda m, x, y, a: evaluation.clean_accuracy(_common.predict_model(m), x, y))]
    for key, x_noisy in noisy_tests.items():
        cols.append(_common.error_column(
            f"{NOISES[key][0]} err %",
            lambda m, x, y, a, xn=x_noisy: evaluation.clean_accuracy(
                _common.predict_model(m), xn, y)))
    for eps in args.fgsm_epsilons:
        cols.append(_common.error_column(
            f"ε={eps:g} err %",
            lambda m, x, y, a, e=eps: evaluation.fgsm_accuracy(
                _common.predict_model(m), x, y, e * std)))
    return cols


def main(argv=None):
    args = parse_args(argv)
    start = time.perf_counter()
    data = _common.load_dataset(args, rgb=True)
    (x_train, _), (x_test, _) = data
    args.image_size = int(x_train.shape[1])
    mean = x_train.mean(axis=(0, 1, 2))
    std = x_train.std(axis=(0, 1, 2)) + 1e-6

    def make_base():
        return _common.wide_resnet(x_train.shape[1:], 10, args.depth, args.width,
                                   mean, std)

    probe = make_base()
    blocks = _common.block_names(probe)
    if args.layers is None:
        tapped = blocks[max(0, len(blocks) - args.tap_blocks):]
        if args.block_gamma == "one":
            args.layers = f"above:{tapped[0]}"
        else:
            args.layers = {
                name: 1.0 / float(np.prod(probe.get_layer(name).output.shape[1:]))
                for name in tapped
            }
            args.layers["logits"] = 1.0
    noisy_tests = {key: noisy_copy(NOISES[key][1], x_test, args.seed + 1000)
                   for key in ("in", "out")}

    def make_optimizer(steps_per_epoch):
        total = args.epochs * steps_per_epoch
        bounds = [int(total * f) for f in (0.3, 0.6, 0.8)]
        schedule = keras.optimizers.schedules.PiecewiseConstantDecay(
            bounds, [args.learning_rate * 0.2**i for i in range(4)])
        return keras.optimizers.SGD(schedule, momentum=0.9, nesterov=True,
                                    weight_decay=args.weight_decay)

    cols = columns(args, noisy_tests, std)
    rows = _common.run_methods(irl_methods(args), make_base, data, cols, args,
                               make_optimizer, _common.progress_stream(args))
    title = (
        f"IRL Table 1 ({args.dataset}, WRN-{args.depth}-{args.width}, "
        f"{len(x_train)} train / {len(x_test)} test, {args.epochs} epochs, "
        f"IRL loss γ={1.0 if args.gamma is None else args.gamma} on "
        f"layers={args.layers!r}, K={args.num_samples}, seed={args.seed}): "
        "test error %"
    )
    return _common.report(args, title, rows, cols, time.perf_counter() - start,
                          extra={"blocks": blocks})


if __name__ == "__main__":
    main()
