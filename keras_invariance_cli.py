"""The `keras-invariance` console script: arguments are parsed before TensorFlow loads.

`import keras_invariance` imports TensorFlow and Keras (several
seconds), and Python imports the package before any of its modules. This
module therefore stands beside the package: it holds the argument parser,
so `--help`, `--version` and usage errors answer at once, and a valid
command then imports `keras_invariance.integrations.cli`, which runs it.

The defaults shown in the help are written here as text; `tests/test_cli.py`
checks them against `keras_invariance.integrations.report.config` and
`keras_invariance.integrations.tuning`, so they cannot drift apart.
"""

import argparse
import sys

PROG = "keras-invariance"

#: What `keras-invariance report` does with an option left out, as shown in
#: `--help` (`tests/test_cli.py` checks these against `ReportConfig`).
REPORT_DEFAULTS = {
    "output_dir": "outputs/report",
    "quick_output_dir": "outputs/report-quick",
    "seeds": 3,
    "quick_seeds": 1,
    "epochs": {"digits": 12, "tfds": 5, "quick": 2},
    "batch_size": 64,
    "learning_rate": 1e-3,
    "train_size": {"tfds": 10000, "quick": 384},
    "test_size": {"tfds": 1000, "quick": 128},
    "noise": 0.3,
    "noise_levels": (0.1, 0.2, 0.3, 0.5),
    "epsilons": (0.02, 0.05, 0.1),
    "pgd_steps": 10,
    "quick_pgd_steps": 5,
    "translation": {"digits": 1.0, "tfds": 3.0},
    "rotation": {"digits": 15.0, "tfds": 30.0},
    "grid": (5, 5, 31),
    "quick_grid": (3, 3, 5),
    "tune_objective": "mean",
    "tune_objectives": ("mean", "noise", "linf", "spatial"),
    "max_clean_drop": 0.02,
}

#: The `tune` subcommand's objectives (`keras_invariance.integrations.tuning.OBJECTIVES`).
TUNE_OBJECTIVES = (
    "adversarial_loss", "clean_loss", "fast_tangent_prop", "irl_distance", "jacobian",
    "loss", "loss_ibp", "noise_regularization", "output_divergence", "perturbed_loss",
    "prediction_ibp", "tangent_prop", "val_accuracy", "val_loss", "val_noisy_accuracy",
    "vat",
)


def version():
    """The installed package's version, read without importing it.

    Example:

    >>> isinstance(version(), str)
    True
    """
    from importlib import metadata

    try:
        return metadata.version("keras-invariance")
    except metadata.PackageNotFoundError:
        return "unknown (not installed)"


def non_negative_float(text):
    """A float ≥ 0 (an argparse type).

    Example:

    >>> non_negative_float("0.5")
    0.5
    """
    value = float(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be ≥ 0; got {text}")
    return value


def positive_int(text):
    """An integer ≥ 1 (an argparse type).

    Example:

    >>> positive_int("3")
    3
    """
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be ≥ 1; got {text}")
    return value


def items(text):
    """A comma-separated list, checked later (so errors are one line).

    Example:

    >>> items("plain, vat,")
    ('plain', 'vat')
    """
    return tuple(item.strip() for item in text.split(",") if item.strip())


class _Formatter(argparse.RawDescriptionHelpFormatter):
    """Appends `(default: …)` to options whose default is a plain value."""

    def _get_help_string(self, action):
        text = action.help or ""
        default = action.default
        if ("default" not in text and default not in (None, False, argparse.SUPPRESS)
                and action.option_strings and not isinstance(default, bool)):
            text += " (default: %(default)s)"
        return text


def _listed(values):
    return ",".join(f"{v:g}" for v in values)


def _add_report_options(job):
    d = REPORT_DEFAULTS
    add = job.add_argument
    add("--methods", type=items, default=None,
        help="comma-separated method keys, 'default' or 'all' (see --list-methods; "
             "default: 'default', one per paper family)")
    add("--list-methods", action="store_true", help="list the methods and exit")
    add("--seeds", type=positive_int, default=None,
        help=f"training seeds per method; every number is mean ± 95%% interval over them "
             f"(default: {d['seeds']}; --quick: {d['quick_seeds']})")
    add("--tune", type=positive_int, default=None, metavar="BUDGET",
        help="fair mode: choose each method's weights on a validation split with BUDGET "
             "Keras Tuner trials each (the first is the defaults); default: off, every "
             "method at its preset's default weights")
    add("--tune-objective", default=None, choices=d["tune_objectives"],
        help="what --tune maximizes on validation: robust accuracy under noise, PGD "
             f"(linf), worst-of-k spatial, or their mean (default: {d['tune_objective']})")
    add("--max-clean-drop", type=non_negative_float, default=None,
        help="--tune's constraint: validation clean accuracy at most this fraction below "
             f"plain's (default: {d['max_clean_drop']:g})")
    add("--dataset", default=None,
        help="'digits' (default: scikit-learn's, embedded, upscaled to 16×16 in 20×20) or "
             "a TFDS image dataset prepared in --data-dir")
    add("--data-dir", default=None, help="TFDS data_dir of the prepared dataset")
    add("--model", default=None,
        help="a .keras file of your own model (returning logits); copies are trained")
    add("--output-dir", default=None,
        help=f"default: {d['output_dir']} ({d['quick_output_dir']} with --quick)")
    add("--overwrite", action="store_true", help="replace a report already in --output-dir")
    add("--quick", action="store_true",
        help="a smoke run of every method in about a minute; its numbers are not meaningful")
    add("--quiet", action="store_true", help="no progress or table on stdout")
    add("--seed", type=int, default=None,
        help="data split, evaluation draws and the first training seed (default: 0)")
    add("--epochs", type=positive_int, default=None,
        help=f"default: {d['epochs']['digits']} on digits, {d['epochs']['tfds']} on TFDS "
             f"data; --quick: {d['epochs']['quick']}")
    add("--batch-size", type=positive_int, default=None,
        help=f"default: {d['batch_size']}")
    add("--learning-rate", type=float, default=None,
        help=f"Adam's (default: {d['learning_rate']:g})")
    add("--train-size", type=positive_int, default=None,
        help=f"training examples (default: all digits, {d['train_size']['tfds']} of TFDS "
             f"data; --quick: {d['train_size']['quick']})")
    add("--test-size", type=positive_int, default=None,
        help=f"test examples (default: all digits, {d['test_size']['tfds']} of TFDS data; "
             f"--quick: {d['test_size']['quick']})")
    add("--noise", type=float, default=None,
        help="σ the IRL rows train with, and of the diagnostics; a pixel intensity, inputs "
             f"in [0, 1] (default: {d['noise']:g})")
    add("--noise-levels", type=items, default=None,
        help=f"σ of the noise curve, comma-separated (default: {_listed(d['noise_levels'])})")
    add("--epsilons", type=items, default=None,
        help=f"ε of the FGSM and PGD curves, ℓ∞ pixel intensities (default: "
             f"{_listed(d['epsilons'])})")
    add("--pgd-steps", type=positive_int, default=None,
        help=f"default: {d['pgd_steps']}; --quick: {d['quick_pgd_steps']}")
    add("--translation", type=float, default=None,
        help=f"spatial box, pixels (default: {d['translation']['digits']:g} on digits, "
             f"{d['translation']['tfds']:g} on TFDS data)")
    add("--rotation", type=float, default=None,
        help=f"spatial box, degrees (default: {d['rotation']['digits']:g} on digits, "
             f"{d['rotation']['tfds']:g} on TFDS data)")
    add("--grid", type=positive_int, nargs=3, default=None, metavar=("DX", "DY", "ANGLE"),
        help=f"grid granularity (default: {' '.join(map(str, d['grid']))} = 775 transforms; "
             f"--quick: {' '.join(map(str, d['quick_grid']))})")
    job.set_defaults(command_name="report")


def _add_tune_options(tune):
    add = tune.add_argument
    add("--method", default=None,
        help="a report method key whose weights to search (see `report --list-methods`; "
             "default: IRL's α, β, γ and λ with IRLHyperModel)")
    add("--dataset", default="digits",
        help="'digits' (the report's) or a TFDS image dataset prepared in --data-dir")
    add("--data-dir", default=None, help="TFDS data_dir of the prepared dataset")
    add("--model", default=None,
        help="a .keras file of your own model (returning logits); default: the report CNN")
    add("--train-size", type=positive_int, default=None,
        help="training examples, before the validation split (default: all)")
    add("--seed", type=int, default=0, help="data split, initial weights and the search")
    add("--noise", type=non_negative_float, default=REPORT_DEFAULTS["noise"],
        help="σ of the Gaussian pixel noise, train and validation")
    add("--layers", default="logits", help="IRL's tapped layers (IRLHyperModel)")
    add("--batch-size", type=positive_int, default=64, help="training batch size")
    add("--max-trials", type=positive_int, default=4, help="trials of the random search")
    add("--epochs", type=positive_int, default=5, help="training epochs of each trial")
    add("--objective", default="val_noisy_accuracy", choices=TUNE_OBJECTIVES,
        metavar="OBJECTIVE",
        help="what the search optimizes: val_noisy_accuracy, val_accuracy, val_loss or a "
             "training term (see keras_invariance.integrations.tuning.OBJECTIVES)")
    add("--directory", default=None,
        help="where Keras Tuner writes its trials (default: a new temp dir)")
    tune.set_defaults(command_name="tune")


def build_parser():
    """The argument parser of `keras-invariance` (for docs and tests).

    Example:

    >>> args = build_parser().parse_args(["report", "--quick", "--seeds", "2"])
    >>> args.command, args.quick, args.seeds
    ('report', True, 2)

    Returns:
        An `argparse.ArgumentParser`.
    """
    parser = argparse.ArgumentParser(
        prog=PROG, formatter_class=_Formatter,
        description="Invariance regularizers for Keras: the robustness report (every "
                    "method side by side, with intervals over seeds and a recommendation "
                    "per threat) and Keras Tuner searches.",
        epilog="examples:\n"
               "  keras-invariance report                      # the main job, 3 seeds\n"
               "  keras-invariance report --quick              # smoke run, about a minute\n"
               "  keras-invariance report --methods plain,irl_loss,vat --tune 4\n"
               "  keras-invariance tune --method vat --max-trials 4")
    parser.add_argument("--version", action="version", version=f"{PROG} {version()}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, help_text in (
        ("report", "train every method on one model and compare them (the main job)"),
        ("digits", "alias of report"),
    ):
        _add_report_options(sub.add_parser(
            name, help=help_text, description=help_text, formatter_class=_Formatter))
    _add_tune_options(sub.add_parser(
        "tune", help="Keras Tuner random search of one method's weights",
        description="Keras Tuner random search of one method's weights, on the report's "
                    "data and model (or --dataset / --model)", formatter_class=_Formatter))
    return parser


def main(argv=None):
    """The console script: parses, then imports the package and runs.

    Args:
        argv: Arguments without the program name (default `sys.argv[1:]`).

    Returns:
        The exit status 0 (bad input exits with 2).
    """
    args = build_parser().parse_args(argv)
    from keras_invariance.integrations import cli
    cli.execute(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
