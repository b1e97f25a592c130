"""The `keras-invariance` command: the robustness report and a tuner search.

`keras-invariance report` (alias `digits`) trains every method of the
package on copies of one model and writes a side-by-side comparison:
`results.json`, PNG figures and `report.html` (see
`keras_invariance.report`). By default: scikit-learn's digits (no
download), a small CNN, one method per paper family, each with its
preset's default weights; well under 5 minutes on 2 CPU cores, `--quick`
under one.

`keras-invariance tune` runs a Keras Tuner random search on digits: of IRL's
α, β, γ and λ (`keras_invariance.tuning.IRLHyperModel`), or with
`--method KEY` of whatever weights that report method has
(`keras_invariance.tuning.InvariantHyperModel`).

Bad input (unknown methods, a model file that is not a Keras model or does
not fit the data, empty or negative σ / ε lists, an output directory that
cannot be written or already holds a report) prints one line and exits
with status 2, before anything is trained or written.
"""

import argparse
import collections
import os
import sys
import tempfile

from keras_invariance import callbacks
from keras_invariance import tuning
from keras_invariance.datasets import digits
from keras_invariance.report import config as config_lib
from keras_invariance.report import methods as methods_lib
from keras_invariance.report import runner
from keras_invariance.report.data import ReportError
from keras_invariance.report.progress import EpochProgress  # noqa: F401 (recipes)

#: One row of a recipe's table: `build(base_model, args)` returns an
#: uncompiled model (the recipes in `recipes/` build their tables with it).
Method = collections.namedtuple("Method", ["name", "build"])

#: One column of a recipe's table: `evaluate(model, x_test, y_test, args,
#: row)` returns a number; `row` holds the columns to its left.
Column = collections.namedtuple("Column", ["name", "evaluate", "format"])

#: The IRL rows (Tables 1–2), as `recipes/irl_cifar.py` reads them.
METHODS = [
    Method(methods_lib.METHODS[key].name, methods_lib.METHODS[key].build)
    for key in ("plain", "data_augmentation", "irl_batching", "irl_loss")
]


def format_table(rows, columns):
    """Formats recipe rows (`{"method": name, <column>: value}`) as text."""
    width = max([len("method")] + [len(r["method"]) for r in rows])
    names = [c.name for c in columns]
    header = "method".ljust(width) + "".join(f"  {n:>11}" for n in names)
    lines = [header, "-" * len(header)]
    for row in rows:
        cells = "".join(f"  {c.format.format(row[c.name]):>11}" for c in columns)
        lines.append(row["method"].ljust(width) + cells)
    return "\n".join(lines)


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


def _items(text):
    """A comma-separated list, checked later (so errors are one line)."""
    return tuple(item.strip() for item in text.split(",") if item.strip())


class _Exit(Exception):
    """A one-line error and exit status 2."""


def _report(args):
    if args.list_methods:
        for m in methods_lib.METHODS.values():
            default = "*" if m.key in methods_lib.DEFAULT_METHODS else " "
            print(f"{default} {m.key:<22} {m.name:<22} {m.family:<34} {m.call}")
        print("* = in the default run")
        return None
    fields = {f: getattr(args, f) for f in config_lib.ReportConfig.__dataclass_fields__
              if hasattr(args, f) and getattr(args, f) is not None}
    fields["methods_explicit"] = args.methods is not None
    fields.setdefault("methods", ("default",))
    try:
        return runner.run_report(config_lib.ReportConfig(**fields),
                                 stream=None if args.quiet else sys.stdout)
    except ReportError as error:
        raise _Exit(str(error)) from None


def _tune(args):
    import keras_tuner

    (x_train, y_train), _ = digits.load_digits(seed=args.seed)
    (x_fit, y_fit), (x_val, y_val) = _split(x_train, y_train, args.seed)
    directory = args.directory or tempfile.mkdtemp(prefix="keras_invariance_tune_")
    if args.method is None:
        project = "irl_digits"
        hypermodel = tuning.IRLHyperModel(noise_stddev=args.noise, layers=args.layers)
    else:
        if args.method not in methods_lib.METHODS or methods_lib.METHODS[args.method].images:
            flat = [k for k, m in methods_lib.METHODS.items() if not m.images]
            raise _Exit(f"--method {args.method!r}: choose one of {', '.join(flat)}")
        project = f"{args.method}_digits"
        method = methods_lib.METHODS[args.method]
        settings = config_lib.ReportConfig(noise=args.noise, seed=args.seed).resolved()
        hypermodel = tuning.InvariantHyperModel(lambda base: method.build(base, settings))
    tuner = keras_tuner.RandomSearch(
        hypermodel,
        objective=tuning.objective(args.objective),
        max_trials=args.max_trials,
        directory=directory,
        project_name=project,
        seed=args.seed,
        overwrite=True,
    )
    tuner.search(
        x_fit, y_fit, epochs=args.epochs, batch_size=args.batch_size,
        validation_data=(x_val, y_val),
        callbacks=[callbacks.NoisyValidation(x_val, y_val, stddev=args.noise, seed=args.seed)],
        verbose=0,
    )
    tuner.results_summary(num_trials=min(args.max_trials, 5))
    print(f"best hyperparameters: {tuner.get_best_hyperparameters()[0].values}")
    print(f"tuner directory: {os.path.join(directory, project)}")
    return tuner


def _split(x, y, seed):
    from sklearn import model_selection

    x_fit, x_val, y_fit, y_val = model_selection.train_test_split(
        x, y, test_size=0.2, random_state=seed, stratify=y
    )
    return (x_fit, y_fit), (x_val, y_val)


def _add_report_options(job):
    add = job.add_argument
    add("--methods", type=_items, default=None,
        help="comma-separated method keys, 'default' or 'all' (see --list-methods)")
    add("--list-methods", action="store_true", help="list the methods and exit")
    add("--dataset", default=None,
        help="'digits' (default, embedded) or a TFDS image dataset prepared in --data-dir")
    add("--data-dir", default=None, help="TFDS data_dir of the prepared dataset")
    add("--model", default=None,
        help="a .keras file of your own model (returning logits); copies are trained")
    add("--output-dir", default=None, help="default outputs/report")
    add("--overwrite", action="store_true", help="replace a report already in --output-dir")
    add("--quick", action="store_true", help="a smoke run of every method in under a minute")
    add("--quiet", action="store_true", help="no progress or table on stdout")
    add("--seed", type=int, default=None)
    add("--epochs", type=positive_int, default=None)
    add("--batch-size", type=positive_int, default=None)
    add("--learning-rate", type=float, default=None)
    add("--train-size", type=positive_int, default=None)
    add("--test-size", type=positive_int, default=None)
    add("--noise", type=float, default=None,
        help="σ the IRL rows train with, and of the diagnostics (default 0.3)")
    add("--noise-levels", type=_items, default=None,
        help="σ of the noise curve, comma-separated (default 0.1,0.2,0.3,0.5)")
    add("--epsilons", type=_items, default=None,
        help="ε of the FGSM and PGD curves (default 0.02,0.05,0.1)")
    add("--pgd-steps", type=positive_int, default=None)
    add("--translation", type=float, default=None, help="spatial box, pixels")
    add("--rotation", type=float, default=None, help="spatial box, degrees")
    add("--grid", type=positive_int, nargs=3, default=None, metavar=("DX", "DY", "ANGLE"),
        help="grid granularity (default 5 5 31 = 775 transforms)")
    job.set_defaults(func=_report)


def build_parser():
    """The argument parser of `keras-invariance` (for docs and tests)."""
    parser = argparse.ArgumentParser(
        prog="keras-invariance",
        description="Invariance regularizers for Keras: the robustness report and tuning.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    for name, help_text in (
        ("report", "train every method on one model and compare them (the main job)"),
        ("digits", "alias of report"),
    ):
        _add_report_options(sub.add_parser(name, help=help_text))

    tune = sub.add_parser("tune", help="Keras Tuner random search on digits")
    add = tune.add_argument
    add("--method", default=None,
        help="a report method key whose weights to search (default: IRL's α, β, γ, λ)")
    add("--seed", type=int, default=0)
    add("--noise", type=non_negative_float, default=0.5,
        help="σ of the Gaussian pixel noise, train and validation")
    add("--layers", default="logits", help="IRL's tapped layers (IRLHyperModel)")
    add("--batch-size", type=positive_int, default=64)
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

        results = run(["report", "--quick", "--output-dir", "/tmp/report"])

    Args:
        argv: Arguments without the program name (default `sys.argv[1:]`).

    Returns:
        `report`: the results dict written to `results.json`; `tune`: the
        `keras_tuner` tuner.

    Raises:
        SystemExit: With status 2 and one line on stderr for bad input.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except _Exit as error:
        sys.stderr.write(f"keras-invariance {args.command}: error: {error}\n")
        raise SystemExit(2) from None


def main(argv=None):
    """The `keras-invariance` console script: runs a subcommand, returns 0.

    Example (shell):

        keras-invariance report                 # the main job, under 5 min
        keras-invariance report --quick         # a smoke run, under 1 min
        keras-invariance report --methods plain,irl_loss,vat --model my.keras
        keras-invariance tune --method vat --max-trials 4

    Args:
        argv: Arguments without the program name (default `sys.argv[1:]`).

    Returns:
        The exit status 0 (bad input exits with 2).
    """
    run(argv)
    return 0


if __name__ == "__main__":
    sys.exit(main())
