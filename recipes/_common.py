"""Shared plumbing of the paper-reproduction recipes.

One place for what `irl_cifar.py`, `ibp_adversarial.py` and
`spatial_invariance.py` have in common:

* the command-line options of every recipe (`--dataset`, `--data-dir`,
  sizes, epochs, seed, `--output-dir`) and dataset-dependent defaults;
* data: TFDS for full-scale runs (`tfds.load(..., data_dir=...,
  download=False)` unless `--download`), with a clear message when the data
  is not prepared, and scikit-learn's digits (no download) for small runs;
* the two network builders (a pre-activation wide ResNet with named blocks,
  and the Invariant BP paper's small CNN);
* the shared train-and-evaluate loop (the `Method` / `Column` lists of
  `keras_invariance.integrations.cli`), and the results table + `results.json`. The
  metrics themselves come from `keras_invariance.evaluation`.

All images are float32 in [0, 1]; per-dataset normalization is a layer inside
each network, so noise and spatial transforms act on pixels.
"""

import argparse
import json
import os
import sys
import time

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402

from keras_invariance.datasets import digits as digits_lib  # noqa: E402
from keras_invariance.integrations import cli  # noqa: E402

#: Re-exported so that recipes build their rows and columns exactly like the
#: `keras-invariance digits` job does.
Method = cli.Method
Column = cli.Column
positive_int = cli.positive_int
non_negative_float = cli.non_negative_float

#: --dataset name → (TFDS name, display name). "digits" is not TFDS.
TFDS_DATASETS = {
    "mnist": ("mnist", "MNIST"),
    "cifar10": ("cifar10", "CIFAR-10"),
}


class DataNotPreparedError(SystemExit):
    """Raised (exit status 1, message on stderr) when TFDS data is missing."""


def build_parser(recipe, doc, datasets):
    """The options every recipe shares; the recipe adds its own.

    Size and training options default to `None` so that `apply_defaults`
    can fill them per dataset (full scale for TFDS, tiny for digits).

    Args:
        recipe: The recipe's name (default `--output-dir outputs/<recipe>`).
        doc: The recipe's module docstring (first paragraph is the help).
        datasets: The `--dataset` choices; the first is the default.

    Returns:
        An `argparse.ArgumentParser`.
    """
    parser = argparse.ArgumentParser(
        prog=f"recipes/{recipe}.py",
        description=doc.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add = parser.add_argument
    add("--dataset", choices=datasets, default=datasets[0],
        help="TFDS dataset (full scale; needs the data prepared) or 'digits' "
        "(scikit-learn, no download). Default %(default)s.")
    add("--data-dir", default=None,
        help="TFDS data_dir holding the prepared dataset (passed to "
        "tfds.load(..., data_dir=...)); default TFDS's own (~/tensorflow_datasets).")
    add("--download", action="store_true",
        help="let tfds.load download and prepare the data (needs internet); "
        "by default the data must already be prepared (download=False)")
    add("--train-size", type=positive_int, default=None,
        help="use N training examples (a seeded random subset)")
    add("--test-size", type=positive_int, default=None,
        help="use N test examples (a seeded random subset)")
    add("--epochs", type=positive_int, default=None)
    add("--batch-size", type=positive_int, default=None)
    add("--learning-rate", type=float, default=None)
    add("--seed", type=int, default=0,
        help="seed of subsets, initial weights, batches and noise")
    add("--output-dir", default=os.path.join("outputs", recipe),
        help="where results.json goes (default %(default)s)")
    add("--quiet", action="store_true", help="no per-epoch progress lines")
    return parser


def apply_defaults(args, defaults):
    """Fills every option left at `None` from `defaults[args.dataset]`."""
    for key, value in defaults[args.dataset].items():
        if getattr(args, key, None) is None:
            setattr(args, key, value)
    return args


# ---------------------------------------------------------------- data


def _not_prepared_message(dataset, tfds_name, data_dir, reason=""):
    where = data_dir or "~/tensorflow_datasets (TFDS's default)"
    target = data_dir or "~/tensorflow_datasets"
    return (
        f"{TFDS_DATASETS[dataset][1]} is not prepared in {where}.\n"
        "Prepare it once on a machine with internet access:\n"
        f"    pip install tensorflow-datasets\n"
        f"    tfds build {tfds_name} --data_dir {target}\n"
        "(or in Python: tensorflow_datasets.builder("
        f"'{tfds_name}', data_dir='{target}').download_and_prepare()),\n"
        f"copy that directory here and pass --data-dir {target}; or rerun "
        "with --download where the internet is reachable. For a small run "
        "without any download use --dataset digits."
        + (f"\n(TFDS said: {reason})" if reason else "")
    )


def load_tfds(dataset, data_dir=None, download=False):
    """Loads a TFDS image dataset as numpy: float32 in [0, 1], int32 labels.

    Args:
        dataset: A key of `TFDS_DATASETS`.
        data_dir: The TFDS `data_dir`.
        download: Passed to `tfds.load`.

    Returns:
        `(x_train, y_train), (x_test, y_test)`.

    Raises:
        DataNotPreparedError: If the data is not prepared (and `download`
            is off) or TFDS cannot load it; the message says how to prepare it.
    """
    import tensorflow_datasets as tfds

    name = TFDS_DATASETS[dataset][0]
    if not download:
        builder = tfds.builder(name, data_dir=data_dir)
        if not builder.is_prepared():
            raise DataNotPreparedError(_not_prepared_message(dataset, name, data_dir))
    try:
        (x_train, y_train), (x_test, y_test) = tfds.as_numpy(
            tfds.load(
                name,
                split=["train", "test"],
                data_dir=data_dir,
                download=download,
                as_supervised=True,
                batch_size=-1,
            )
        )
    except (AssertionError, OSError, tfds.core.registered.DatasetNotFoundError) as error:
        raise DataNotPreparedError(
            _not_prepared_message(dataset, name, data_dir, str(error).splitlines()[0])
        ) from error

    def convert(x, y):
        return (x.astype("float32") / 255.0), y.astype("int32")

    return convert(x_train, y_train), convert(x_test, y_test)


def colorize(x, seed):
    """Gray images `(n, h, w, 1)` → RGB with a random stroke color per image.

    Gives the color noises of the IRL paper (hue, saturation) something to
    act on when a recipe runs on the gray digits.
    """
    rng = np.random.default_rng(seed)
    colors = rng.uniform(0.3, 1.0, size=(len(x), 1, 1, 3)).astype("float32")
    return x * colors


def _subset(x, y, size, rng):
    if size is None or size >= len(y):
        return x, y
    index = rng.permutation(len(y))[:size]
    return x[index], y[index]


def load_dataset(args, digits_pad_to=None, rgb=False):
    """The recipe's data per `args.dataset`, subset to the requested sizes.

    Args:
        args: Parsed arguments (`dataset`, `data_dir`, `download`,
            `train_size`, `test_size`, `seed`).
        digits_pad_to: Zero-pad the 8×8 digits to this side.
        rgb: Return 3-channel images (digits are colorized, MNIST repeated).

    Returns:
        `(x_train, y_train), (x_test, y_test)`: float32 images in [0, 1]
        `(n, h, w, c)` and int32 labels.
    """
    if args.dataset == "digits":
        (x_train, y_train), (x_test, y_test) = digits_lib.load_digits(
            seed=args.seed, image=True, pad_to=digits_pad_to
        )
        if rgb:
            x_train = colorize(x_train, args.seed)
            x_test = colorize(x_test, args.seed + 1)
    else:
        (x_train, y_train), (x_test, y_test) = load_tfds(
            args.dataset, args.data_dir, args.download
        )
        if rgb and x_train.shape[-1] == 1:
            x_train, x_test = (np.repeat(x, 3, axis=-1) for x in (x_train, x_test))
    rng = np.random.default_rng(args.seed)
    x_train, y_train = _subset(x_train, y_train, args.train_size, rng)
    x_test, y_test = _subset(x_test, y_test, args.test_size, rng)
    return (x_train, y_train), (x_test, y_test)


# ---------------------------------------------------------------- networks


class ResidualBlock(keras.layers.Layer):
    """A pre-activation wide-ResNet basic block as ONE layer.

    BN → ReLU → 3×3 conv (stride) → BN → ReLU → [dropout] → 3×3 conv, plus a
    1×1 projection shortcut when the shape changes. Being one layer, a block
    is one tap: `layers="above:block_9"` taps blocks 9, 10, … and the logits.
    """

    def __init__(self, filters, stride=1, dropout=0.0, weight_decay=0.0,
                 **kwargs):
        super().__init__(**kwargs)
        self.filters, self.stride, self.dropout = filters, stride, dropout
        self.weight_decay = weight_decay
        reg = keras.regularizers.L2(weight_decay) if weight_decay else None
        conv = dict(padding="same", use_bias=False, kernel_regularizer=reg,
                    kernel_initializer="he_normal")
        self.bn_1 = keras.layers.BatchNormalization()
        self.conv_1 = keras.layers.Conv2D(filters, 3, strides=stride, **conv)
        self.bn_2 = keras.layers.BatchNormalization()
        self.drop = keras.layers.Dropout(dropout) if dropout else None
        self.conv_2 = keras.layers.Conv2D(filters, 3, **conv)
        self.shortcut = None
        self._conv_kwargs = conv

    def build(self, input_shape):
        if self.stride != 1 or input_shape[-1] != self.filters:
            self.shortcut = keras.layers.Conv2D(
                self.filters, 1, strides=self.stride, **self._conv_kwargs
            )
            self.shortcut.build(input_shape)
        self.bn_1.build(input_shape)
        self.conv_1.build(input_shape)
        mid = self.conv_1.compute_output_shape(input_shape)
        self.bn_2.build(mid)
        self.conv_2.build(mid)

    def call(self, x, training=None):
        h = keras.ops.relu(self.bn_1(x, training=training))
        shortcut = x if self.shortcut is None else self.shortcut(h)
        h = self.conv_1(h)
        h = keras.ops.relu(self.bn_2(h, training=training))
        if self.drop is not None:
            h = self.drop(h, training=training)
        return self.conv_2(h) + shortcut

    def compute_output_shape(self, input_shape):
        return self.conv_1.compute_output_shape(input_shape)[:-1] + (self.filters,)

    def get_config(self):
        config = super().get_config()
        config.update(filters=self.filters, stride=self.stride,
                      dropout=self.dropout, weight_decay=self.weight_decay)
        return config


class PooledLogits(keras.layers.Layer):
    """BN → ReLU → global average pool → Dense: the head as ONE layer.

    So that everything after the last block is the single `logits` tap.
    """

    def __init__(self, num_classes, **kwargs):
        super().__init__(**kwargs)
        self.num_classes = num_classes
        self.bn = keras.layers.BatchNormalization()
        self.dense = keras.layers.Dense(num_classes)

    def build(self, input_shape):
        self.bn.build(input_shape)
        self.dense.build((input_shape[0], input_shape[-1]))

    def call(self, x, training=None):
        h = keras.ops.relu(self.bn(x, training=training))
        return self.dense(keras.ops.mean(h, axis=(1, 2)))

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.num_classes)

    def get_config(self):
        config = super().get_config()
        config["num_classes"] = self.num_classes
        return config


def wide_resnet(input_shape, num_classes=10, depth=28, width=10, mean=None,
                std=None, dropout=0.0, weight_decay=0.0, name=None):
    """Pre-activation Wide ResNet-`depth`-`width` (Zagoruyko & Komodakis).

    Layers: `normalize` (per-channel (x − mean) / std, so inputs are pixels
    in [0, 1]), `stem` (3×3 conv, 16 filters), `block_1` … `block_{3n}`
    (n = (depth − 4) / 6 per group; 16·width, 32·width, 64·width filters,
    stride 2 at the start of groups 2 and 3) and `logits` (`PooledLogits`).

    Returns:
        An uncompiled Functional model returning logits.
    """
    if (depth - 4) % 6 or depth < 10:
        raise ValueError(f"WRN depth must be 6n + 4 with n ≥ 1; received {depth}.")
    n = (depth - 4) // 6
    channels = input_shape[-1]
    mean = np.zeros(channels) if mean is None else np.asarray(mean)
    std = np.ones(channels) if std is None else np.asarray(std)
    inputs = keras.Input(tuple(input_shape), name="pixels")
    h = keras.layers.Normalization(
        mean=mean.tolist(), variance=(std**2).tolist(), name="normalize"
    )(inputs)
    reg = keras.regularizers.L2(weight_decay) if weight_decay else None
    h = keras.layers.Conv2D(16, 3, padding="same", use_bias=False,
                            kernel_regularizer=reg, kernel_initializer="he_normal",
                            name="stem")(h)
    block = 0
    for group, filters in enumerate((16 * width, 32 * width, 64 * width)):
        for i in range(n):
            block += 1
            stride = 2 if (group > 0 and i == 0) else 1
            h = ResidualBlock(filters, stride, dropout, weight_decay,
                              name=f"block_{block}")(h)
    outputs = PooledLogits(num_classes, name="logits")(h)
    return keras.Model(inputs, outputs, name=name or f"wrn_{depth}_{width}")


def block_names(model):
    """The names of a `wide_resnet`'s residual blocks, in order."""
    return [layer.name for layer in model.layers if isinstance(layer, ResidualBlock)]


def ibp_cnn(input_shape, num_classes=10, mean=0.0, hidden_units=256,
            name="ibp_cnn"):
    """The Invariant BP paper's MNIST network.

    `center` (subtracts the mean pixel), `conv_1` (32 filters 4×4, no
    padding), `pool_1` (3×3 max, stride 2), `conv_2` (64 filters 5×5,
    padding 2), `pool_2`, `hidden` (Dense 256, ReLU) and `logits`. Pooling
    uses "same" padding so the net also fits 8×8 digits.
    """
    inputs = keras.Input(tuple(input_shape), name="pixels")
    h = keras.layers.Rescaling(1.0, offset=-float(mean), name="center")(inputs)
    h = keras.layers.Conv2D(32, 4, activation="relu", name="conv_1")(h)
    h = keras.layers.MaxPooling2D(3, 2, padding="same", name="pool_1")(h)
    h = keras.layers.Conv2D(64, 5, padding="same", activation="relu", name="conv_2")(h)
    h = keras.layers.MaxPooling2D(3, 2, padding="same", name="pool_2")(h)
    h = keras.layers.Flatten(name="flatten")(h)
    h = keras.layers.Dense(hidden_units, activation="relu", name="hidden")(h)
    outputs = keras.layers.Dense(num_classes, name="logits")(h)
    return keras.Model(inputs, outputs, name=name)


def crop_flip(image_size, pad, flip=True, seed=None):
    """Global augmentation: random `pad`-pixel crop (zero fill) and h-flip.

    Per example, a random integer shift of up to `pad` pixels with zero fill
    (the same as zero-padding by `pad` and cropping back at a random place),
    then a random horizontal flip. A list of Keras layers for
    `global_augmentation=`, applied identically to x and x̃.
    """
    layers = [
        keras.layers.RandomTranslation(
            pad / image_size, pad / image_size, fill_mode="constant",
            interpolation="nearest", seed=seed,
        )
    ]
    if flip:
        layers.append(keras.layers.RandomFlip("horizontal", seed=seed))
    return layers


# ---------------------------------------------------------------- evaluation


def predict_model(model):
    """The plain network of an `InvariantModel` (or the model itself)."""
    return getattr(model, "base_model", None) or model


def error_column(name, accuracy_fn):
    """A `Column` of test error in % from `accuracy_fn(model, x, y, args)`."""
    return Column(
        name, lambda model, x, y, args, row: 100.0 * (1.0 - accuracy_fn(model, x, y, args)),
        "{:.2f}",
    )


def accuracy_column(name, accuracy_fn):
    """A `Column` of accuracy in % from `accuracy_fn(model, x, y, args)`."""
    return Column(
        name, lambda model, x, y, args, row: 100.0 * accuracy_fn(model, x, y, args),
        "{:.2f}",
    )


# ---------------------------------------------------------------- training


def run_methods(methods, make_base, data, columns, args, make_optimizer,
                stream=None, fit_kwargs=None):
    """Trains each `Method` from the same seed and evaluates every `Column`.

    Args:
        methods: `Method(name, build)`: `build(base, args)` returns an
            uncompiled model.
        make_base: `make_base()` returns a fresh base network.
        data: `(x_train, y_train), (x_test, y_test)`.
        columns: `Column`s, evaluated left to right on the test set.
        args: Parsed arguments (`seed`, `epochs`, `batch_size`).
        make_optimizer: `make_optimizer(steps_per_epoch)` returns a fresh
            optimizer.
        stream: Where progress lines go (`None` for silence).
        fit_kwargs: Extra `fit()` arguments.

    Returns:
        A list of row dicts: `method`, `train s` and one entry per column.
    """
    (x_train, y_train), (x_test, y_test) = data
    steps = -(-len(y_train) // args.batch_size)
    rows = []
    for i, method in enumerate(methods, start=1):
        keras.utils.set_random_seed(args.seed)
        model = method.build(make_base(), args)
        model.compile(
            optimizer=make_optimizer(steps),
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        )
        start = time.perf_counter()
        model.fit(
            x_train, y_train, batch_size=args.batch_size, epochs=args.epochs,
            verbose=0, shuffle=True,
            callbacks=[cli.EpochProgress(f"[{i}/{len(methods)}] {method.name}",
                                         args.epochs, stream)],
            **(fit_kwargs or {}),
        )
        row = {"method": method.name, "train s": time.perf_counter() - start}
        for column in columns:
            row[column.name] = float(column.evaluate(model, x_test, y_test, args, row))
        rows.append(row)
        if stream is not None:
            stream.write(f"    {method.name}: " + ", ".join(
                f"{c.name} {c.format.format(row[c.name])}" for c in columns) + "\n")
            stream.flush()
    return rows


def progress_stream(args):
    return None if args.quiet else sys.stdout


def report(args, title, rows, columns, wall_seconds, extra=None):
    """Prints the results table and writes `<output-dir>/results.json`.

    Returns:
        The dict written: `title`, `config`, `columns`, `rows`,
        `wall_seconds` and `extra` entries.
    """
    table = cli.format_table(rows, columns)
    print()
    print(title)
    print(table)
    print(f"wall time {wall_seconds:.1f} s")
    os.makedirs(args.output_dir, exist_ok=True)
    config = {k: (list(v) if isinstance(v, tuple) else v) for k, v in vars(args).items()}
    results = dict(title=title, config=config, columns=[c.name for c in columns],
                   rows=rows, table=table, wall_seconds=wall_seconds, **(extra or {}))
    path = os.path.join(args.output_dir, "results.json")
    with open(path, "w") as f:
        json.dump(results, f, indent=1, default=float)
    print(f"wrote {path}")
    results["path"] = path
    return results
