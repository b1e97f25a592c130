"""The `keras-invariance` command: the robustness report and a tuner search.

`keras-invariance report` (alias `digits`) trains every method of the
package on copies of one model, once per seed, and writes a side-by-side
comparison with intervals and a recommendation per threat:
`results.json`, PNG figures and `report.html` (see
`keras_invariance.integrations.report`). By default: scikit-learn's digits (no
download, upscaled to 16×16), a small CNN, one method per paper family,
each with its preset's default weights (`--tune BUDGET` chooses them on a
validation split instead), three seeds; `--quick` is a one-minute smoke
run.

`keras-invariance tune` runs a Keras Tuner random search on the report's
data and model (or `--dataset` / `--model`): of IRL's α, β, γ and λ
(`keras_invariance.integrations.tuning.IRLHyperModel`), or with `--method KEY` of
whatever weights that report method has
(`keras_invariance.integrations.tuning.InvariantHyperModel`).

The parser lives in the top-level module `keras_invariance_cli`, which the
console script runs: it answers `--help`, `--version` and usage errors
without importing TensorFlow. Bad input that needs the package (unknown
methods, a model file that is not a Keras model or does not fit the data,
empty or negative σ / ε lists, an output directory that cannot be written
or already holds a report) prints one line and exits with status 2, before
anything is trained or written.

`report` needs scikit-learn for its default data and matplotlib for its
figures; `tune` and `report --tune` need Keras Tuner and TensorBoard. The
`report` extra installs them all (`pip install 'keras-invariance[report]'`).
"""

import collections
import os
import sys
import tempfile

from keras_invariance.integrations import callbacks
from keras_invariance.integrations.report import config as config_lib
from keras_invariance.integrations.report import data as data_lib
from keras_invariance.integrations.report import methods as methods_lib
from keras_invariance.integrations.report import runner
from keras_invariance.integrations.report import training
from keras_invariance.integrations.report.data import ReportError
from keras_invariance.integrations.report.progress import EpochProgress  # noqa: F401 (recipes)
from keras_invariance_cli import build_parser
from keras_invariance_cli import non_negative_float  # noqa: F401 (recipes)
from keras_invariance_cli import positive_int  # noqa: F401 (recipes)

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
    # Keras Tuner (the `tuner` extra) only for this subcommand: `report`
    # without `--tune` runs without it.
    from keras_invariance.integrations import tuning

    keras_tuner = tuning.keras_tuner
    if args.method == "plain":
        raise _Exit("--method plain is ordinary training: it has no weights to search; "
                    "choose a method with terms (see `keras-invariance report "
                    "--list-methods`), e.g. --method irl_loss")
    if args.method is not None and args.method not in methods_lib.METHODS:
        raise _Exit(f"--method: {methods_lib.unknown_key_message(args.method)}")
    settings = config_lib.ReportConfig(
        dataset=args.dataset, data_dir=args.data_dir, model=args.model, noise=args.noise,
        seed=args.seed, batch_size=args.batch_size, epochs=args.epochs,
        train_size=args.train_size).resolved()
    user_shape = None
    if args.model is not None:
        user_shape = tuple(data_lib.load_user_model(args.model).inputs[0].shape[1:])
    (x, y), _ = data_lib.load_data(settings.dataset, settings.data_dir,
                                   settings.train_size, None, args.seed,
                                   input_shape=user_shape)
    num_classes = int(y.max()) + 1
    bases = training.BaseModels(settings, x, num_classes)
    data_lib.check_model_fits(bases.make(), x, num_classes, bases.source)
    from keras_invariance.integrations.report import tune as tune_lib

    (x_fit, y_fit), (x_val, y_val) = tune_lib.validation_split(x, y, 0.2, args.seed)
    directory = args.directory or tempfile.mkdtemp(prefix="keras_invariance_tune_")
    if args.method is None:
        project = "irl"
        hypermodel = tuning.IRLHyperModel(
            build_base=lambda hp: bases.make(args.seed), noise_stddev=args.noise,
            layers=args.layers)
    else:
        method = methods_lib.METHODS[args.method]
        if method.images and x.ndim != 4:
            raise _Exit(f"--method {args.method} needs image inputs (batch, height, width, "
                        "channels), but the data are not images")
        project = args.method
        hypermodel = tuning.InvariantHyperModel(
            lambda base: method.build(base, settings),
            build_base=lambda hp: bases.make(args.seed))
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


def execute(args):
    """Runs parsed arguments (from `keras_invariance_cli.build_parser`).

    Example:

        execute(build_parser().parse_args(["report", "--list-methods"]))

    Args:
        args: The `argparse.Namespace`.

    Returns:
        `report`: the results dict written to `results.json`; `tune`: the
        `keras_tuner` tuner; `report --list-methods`: `None`.

    Raises:
        SystemExit: With status 2 and one line on stderr for bad input or
            a missing optional dependency (the line names the extra).
    """
    job = _report if args.command_name == "report" else _tune
    try:
        return job(args)
    except ImportError as error:
        # A missing optional dependency: its message names the extra.
        if "keras-invariance[" not in str(error):
            raise
        sys.stderr.write(f"keras-invariance {args.command}: error: {error}\n")
        raise SystemExit(2) from None
    except (_Exit, ReportError) as error:
        sys.stderr.write(f"keras-invariance {args.command}: error: {error}\n")
        raise SystemExit(2) from None


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
    return execute(build_parser().parse_args(argv))


def main(argv=None):
    """`keras-invariance` from Python: runs a subcommand, returns 0.

    The console script is `keras_invariance_cli.main`, which parses before
    importing this package; this is the same command for callers that
    have imported it already.

    Example (shell):

        keras-invariance report                 # the main job, 3 seeds
        keras-invariance report --quick         # a smoke run, about a minute
        keras-invariance report --methods plain,irl_loss,vat --tune 4
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
