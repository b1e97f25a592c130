"""The `keras-invariance` command: the main job and a Keras Tuner search.

`keras-invariance digits` trains one small MLP on scikit-learn's digits four
ways (the rows of IRL Tables 1–2) and prints clean and noisy test accuracy:

    plain              (α, β, γ) = (1, 0, 0)
    data augmentation  (0, 1, 0)
    IRL batching       (½, ½, 0)
    IRL loss           (½, ½, 1)

Every method starts from the same initial weights and sees the same batches
and test noise. The report is two lists so later issues can extend it:
`METHODS` (rows: a name and a builder) and `COLUMNS` (a name and an
evaluation function).

`keras-invariance tune` runs a Keras Tuner random search of IRL's α, β, γ
and λ on digits (`keras_invariance.tuning.IRLHyperModel`).
"""

import argparse
import collections
import os
import sys
import tempfile
import time

import keras

import keras_invariance as ki
from keras_invariance import callbacks
from keras_invariance import evaluation
from keras_invariance import tuning
from keras_invariance.datasets import digits

#: One row of the report: `build(base_model, args)` returns an uncompiled
#: model whose `fit()` trains the method.
Method = collections.namedtuple("Method", ["name", "build"])

#: One column: `evaluate(model, x_test, y_test, args, row)` returns a number;
#: `row` holds the columns to its left (e.g. an error from an accuracy).
Column = collections.namedtuple("Column", ["name", "evaluate", "format"])


def _irl(preset):
    def build(base, args):
        perturbation = None
        if preset != "plain":
            perturbation = ki.GaussianNoise(args.noise, seed=args.seed)
        gamma = getattr(args, "gamma", None) if preset == "irl_loss" else None
        return ki.IRL(
            base,
            perturbation=perturbation,
            preset=preset,
            weight=gamma,
            layers=args.layers,
            num_samples=args.num_samples,
        )

    return build


METHODS = [
    Method("plain", _irl("plain")),
    Method("data augmentation", _irl("data_augmentation")),
    Method("IRL batching", _irl("irl_batching")),
    Method("IRL loss", _irl("irl_loss")),
]


def _noisy_accuracy(model, x, y, args, row):
    # Test noise seeds differ from the training noise seed.
    return evaluation.noisy_accuracy(
        model, x, y, args.noise, draws=args.noise_draws, seed=args.seed + 1000
    )


COLUMNS = [
    Column("clean acc", lambda model, x, y, args, row: evaluation.clean_accuracy(model, x, y), "{:.4f}"),
    Column("noisy acc", _noisy_accuracy, "{:.4f}"),
    Column("clean err %", lambda model, x, y, args, row: 100 * (1 - row["clean acc"]), "{:.2f}"),
    Column("noisy err %", lambda model, x, y, args, row: 100 * (1 - row["noisy acc"]), "{:.2f}"),
]


class EpochProgress(keras.callbacks.Callback):
    """A one-line progress display per method, updated every epoch.

    On a terminal the line is redrawn in place; in a log (not a terminal) a
    line is written about every fifth of the run, so that a 30-epoch run
    stays a few lines per method. Each line shows the training objective and
    its terms (`loss`, `clean_loss`, `perturbed_loss`, `irl_distance`).

    Args:
        title: The method's name, at the start of each line.
        epochs: The number of epochs of the `fit()`.
        stream: A text stream such as `sys.stdout`; `None` for silence.
    """

    SHOWN = ("loss", "clean_loss", "perturbed_loss", "irl_distance")

    def __init__(self, title, epochs, stream=None):
        super().__init__()
        self.title = title
        self.epochs = epochs
        self.stream = stream

    def on_train_begin(self, logs=None):
        self.start = time.perf_counter()
        self.in_place = self.stream is not None and self.stream.isatty()

    def on_epoch_end(self, epoch, logs=None):
        if self.stream is None:
            return
        done = epoch + 1
        every = max(1, self.epochs // 5)
        if not (self.in_place or done % every == 0 or done == self.epochs):
            return
        terms = "  ".join(
            f"{k} {logs[k]:.4f}" for k in self.SHOWN if logs and k in logs
        )
        width = len(str(self.epochs))
        line = (
            f"{self.title:<26} epoch {done:>{width}}/{self.epochs}  {terms}  "
            f"{time.perf_counter() - self.start:5.1f} s"
        )
        if self.in_place:
            end = "\n" if done == self.epochs else ""
            self.stream.write("\r" + line + end)
        else:
            self.stream.write(line + "\n")
        self.stream.flush()


def run_digits(args, quiet=False):
    """Trains and evaluates every entry of `METHODS`; returns the rows.

    Args:
        args: The parsed `digits` arguments.
        quiet: Whether to hide the progress display (it goes to stdout).

    Returns:
        A list of dicts, one per method: `{"method": name, <column>: value}`.
    """
    stream = None if quiet else sys.stdout
    (x_train, y_train), (x_test, y_test) = digits.load_digits(seed=args.seed)
    if args.train_size:
        x_train, y_train = x_train[: args.train_size], y_train[: args.train_size]
    rows = []
    for i, method in enumerate(METHODS, start=1):
        # The same seed before each build gives every method the same initial
        # weights, batches and noise draws, so the rows differ only by method.
        keras.utils.set_random_seed(args.seed)
        base = digits.digits_classifier(hidden_units=args.hidden_units)
        model = method.build(base, args)
        model.compile(
            optimizer=keras.optimizers.Adam(args.learning_rate),
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        )
        start = time.perf_counter()
        model.fit(
            x_train,
            y_train,
            batch_size=args.batch_size,
            epochs=args.epochs,
            verbose=0,
            callbacks=[
                EpochProgress(f"[{i}/{len(METHODS)}] {method.name}", args.epochs, stream)
            ],
        )
        row = {"method": method.name, "train s": time.perf_counter() - start}
        for column in COLUMNS:
            row[column.name] = column.evaluate(model, x_test, y_test, args, row)
        rows.append(row)
    return rows


def format_table(rows, columns=None):
    """Formats the rows of `run_digits` as a fixed-width text table."""
    columns = columns or COLUMNS
    width = max([len("method")] + [len(r["method"]) for r in rows])
    names = [c.name for c in columns]
    header = "method".ljust(width) + "".join(f"  {n:>11}" for n in names)
    lines = [header, "-" * len(header)]
    for row in rows:
        cells = "".join(
            f"  {c.format.format(row[c.name]):>11}" for c in columns
        )
        lines.append(row["method"].ljust(width) + cells)
    return "\n".join(lines)


def _digits(args):
    start = time.perf_counter()
    rows = run_digits(args)
    print()
    print(
        f"digits MLP {args.hidden_units}, {args.epochs} epochs, Gaussian noise "
        f"σ={args.noise} (train and test, {args.noise_draws} test draws), "
        f"K={args.num_samples}, IRL loss γ={1.0 if args.gamma is None else args.gamma} "
        f"on layers={args.layers!r}, seed={args.seed}"
    )
    print(format_table(rows))
    print(f"wall time {time.perf_counter() - start:.1f} s")
    return rows


def _tune(args):
    import keras_tuner

    (x_train, y_train), _ = digits.load_digits(seed=args.seed)
    # Tune on a validation split of the training set; the test set stays unseen.
    (x_fit, y_fit), (x_val, y_val) = _split(x_train, y_train, args.seed)
    directory = args.directory or tempfile.mkdtemp(prefix="keras_invariance_tune_")
    tuner = keras_tuner.RandomSearch(
        tuning.IRLHyperModel(noise_stddev=args.noise, layers=args.layers),
        objective=tuning.objective(args.objective),
        max_trials=args.max_trials,
        directory=directory,
        project_name="irl_digits",
        seed=args.seed,
        overwrite=True,
    )
    tuner.search(
        x_fit,
        y_fit,
        epochs=args.epochs,
        batch_size=args.batch_size,
        validation_data=(x_val, y_val),
        callbacks=[callbacks.NoisyValidation(x_val, y_val, stddev=args.noise, seed=args.seed)],
        verbose=0,
    )
    tuner.results_summary(num_trials=min(args.max_trials, 5))
    best = tuner.get_best_hyperparameters()[0].values
    print(f"best hyperparameters: {best}")
    print(f"tuner directory: {os.path.join(directory, 'irl_digits')}")
    return tuner


def _split(x, y, seed):
    from sklearn import model_selection

    x_fit, x_val, y_fit, y_val = model_selection.train_test_split(
        x, y, test_size=0.2, random_state=seed, stratify=y
    )
    return (x_fit, y_fit), (x_val, y_val)


def hidden_units(text):
    try:
        units = tuple(int(u) for u in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated integers such as 256,256; got {text!r}"
        ) from None
    if min(units) < 1:
        raise argparse.ArgumentTypeError(f"units must be ≥ 1; got {text!r}")
    return units


def non_negative_float(text):
    value = float(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be ≥ 0; got {text}")
    return value


def positive_int(text):
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be ≥ 1; got {text}")
    return value


def build_parser():
    """The argument parser of `keras-invariance` (for docs and tests)."""
    parser = argparse.ArgumentParser(
        prog="keras-invariance",
        description="Invariance regularizers for Keras: demos and tuning.",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    common = argparse.ArgumentParser(add_help=False)
    add = common.add_argument
    add("--seed", type=int, default=0, help="seed of data split, weights and noise")
    add("--noise", type=non_negative_float, default=0.5,
        help="σ of the Gaussian pixel noise, train and test (pixels in [0, 1])")
    add("--layers", default="logits",
        help="layers of IRL's distance: a name, 'logits', or 'above:hidden_1' (IRL-C)")
    add("--batch-size", type=positive_int, default=64)

    job = sub.add_parser(
        "digits", parents=[common],
        help="main job: plain / data augmentation / IRL batching / IRL loss on digits",
    )
    add = job.add_argument
    add("--epochs", type=positive_int, default=30)
    add("--quick", action="store_true", help="a smoke run: 3 epochs on 512 training examples")
    add("--gamma", type=non_negative_float, default=None,
        help="γ of the IRL loss row (default: the paper's 1.0)")
    add("--num-samples", type=positive_int, default=1, help="K noisy copies per example")
    add("--noise-draws", type=positive_int, default=5,
        help="noisy copies of the test set averaged in 'noisy acc'")
    add("--hidden-units", type=hidden_units, default=(256, 256), help="e.g. 256,256")
    add("--learning-rate", type=float, default=1e-3)
    add("--train-size", type=positive_int, default=None,
        help="use only the first N training examples")
    job.set_defaults(func=_digits)

    tune = sub.add_parser(
        "tune", parents=[common],
        help="Keras Tuner random search of IRL's α, β, γ, λ on digits",
    )
    add = tune.add_argument
    add("--max-trials", type=positive_int, default=4)
    add("--epochs", type=positive_int, default=5)
    add("--objective", default="val_noisy_accuracy", choices=sorted(tuning.OBJECTIVES),
        help="what the search optimizes (default: val_noisy_accuracy)")
    add("--directory", default=None,
        help="where Keras Tuner writes its trials (default: a new temp dir)")
    tune.set_defaults(func=_tune)
    return parser


def run(argv=None):
    """Runs a subcommand and returns its result (for Python callers and tests).

    Example:

        rows = run(["digits", "--quick"])   # prints the table, returns its rows

    Args:
        argv: Arguments without the program name (default `sys.argv[1:]`).

    Returns:
        `digits`: the report rows (see `run_digits`); `tune`: the
        `keras_tuner` tuner.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        # A wrong --layers fails here with the available names, not mid-run.
        ki.IRL(
            digits.digits_classifier(hidden_units=getattr(args, "hidden_units", (256, 256))),
            perturbation=ki.GaussianNoise(args.noise),
            layers=args.layers,
        )
    except ValueError as error:
        parser.error(f"--layers {args.layers!r}: {error}")
    if getattr(args, "quick", False):
        args.epochs = min(args.epochs, 3)
        args.train_size = args.train_size or 512
    return args.func(args)


def main(argv=None):
    """The `keras-invariance` console script: runs a subcommand, returns 0.

    Example (shell):

        keras-invariance digits            # the main job, well under 5 min
        keras-invariance digits --quick    # a smoke run in seconds
        keras-invariance tune --max-trials 4 --directory /tmp/irl_tune

    Args:
        argv: Arguments without the program name (default `sys.argv[1:]`).

    Returns:
        The exit status 0 (argparse exits with 2 on bad arguments).
    """
    run(argv)
    return 0


if __name__ == "__main__":
    sys.exit(main())
