"""The fair mode (`--tune BUDGET`): every method's weights chosen the same way.

With each preset's default weights, a report compares weights as much as
methods. The papers compare each method at its best parameter (the
Invariant BP paper's Table 1). Here every method gets the same Keras Tuner
budget on the same validation split of the training data:

* the search space is `keras_invariance.integrations.tuning.InvariantHyperModel`'s: α
  and β when there is a perturbation, each penalty's weight λ_j on a log
  scale from a tenth to ten times its default, radii (ε, σ) from a quarter
  to four times;
* the first trial is the preset's defaults, the others are random
  (`DefaultsFirstRandomSearch`), so a tuned method is never worse on the
  validation split than its defaults;
* a trial trains on the other part of the training data for the report's
  epochs and is scored on the validation part: its robust accuracy
  (`ReportConfig.tune_objective`: Gaussian noise at the training σ, PGD at
  the middle ε, worst-of-k spatial, or their mean), under the constraint
  that its clean accuracy is at most `max_clean_drop` below plain
  training's on the same split (a trial that breaks it scores below every
  trial that keeps it).

The test set is never seen. Plain training has no weights and is not
searched. The chosen weights are printed and saved with each method.
"""

import shutil
import tempfile

import numpy as np

from keras_invariance.evaluation import accuracy
from keras_invariance.evaluation import adversarial
from keras_invariance.evaluation import spatial as spatial_eval
from keras_invariance.integrations import tuning
from keras_invariance.integrations.report import training
from keras_invariance.integrations.report.data import ReportError
from keras_invariance.integrations.report.evaluate import VALUE_RANGE
from keras_invariance.utils.extras import require

keras_tuner = require("keras_tuner", "tuner", "The fair mode (`--tune`)")

#: The score of a trial that breaks the clean-accuracy constraint is its
#: robust accuracy minus this, below every trial that keeps it.
INFEASIBLE = 1.0


class DefaultsFirstRandomSearch(keras_tuner.oracles.RandomSearchOracle):
    """Random search whose first trial is every hyperparameter's default.

    Example:

    >>> oracle = DefaultsFirstRandomSearch(
    ...     objective=keras_tuner.Objective("score", "max"), max_trials=2, seed=0)
    >>> oracle.hyperparameters.Float("w", 0.1, 10.0, sampling="log", default=1.0)
    1.0
    >>> oracle.populate_space("0")["values"]
    {'w': 1.0}
    """

    def populate_space(self, trial_id):
        if not self.trials:
            values = {hp.name: hp.default for hp in self.hyperparameters.space}
            return {"status": keras_tuner.engine.trial.TrialStatus.RUNNING,
                    "values": values}
        return super().populate_space(trial_id)


class ValidationScorer:
    """Clean and robust accuracy of trained weights on the validation split.

    One network receives each trial's weights, so the attacks are traced
    once per tuning, as in the report's `Evaluator`.

    Example:

    >>> import keras
    >>> from keras_invariance.integrations.report.config import ReportConfig
    >>> net = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Flatten(),
    ...                         keras.layers.Dense(3)])
    >>> x = np.random.default_rng(0).random((6, 8, 8, 1)).astype("float32")
    >>> scorer = ValidationScorer(net, x, np.array([0, 1, 2, 0, 1, 2]),
    ...                           ReportConfig(quick=True).resolved())
    >>> sorted(scorer.score(net))
    ['clean', 'linf', 'noise', 'robust', 'spatial']

    Args:
        network: A copy of the base model (its weights are overwritten).
        x: Validation inputs.
        y: Validation labels.
        config: The resolved `ReportConfig`.

    Raises:
        ReportError: For `tune_objective="spatial"` on data that are not
            images.
    """

    def __init__(self, network, x, y, config):
        self.network, self.x, self.y, self.config = network, x, np.asarray(y), config
        self.images = x.ndim == 4
        if config.tune_objective == "spatial" and not self.images:
            raise ReportError("--tune-objective spatial needs image data")
        self.epsilon = sorted(config.epsilons)[len(config.epsilons) // 2]

    def score(self, trained):
        """`{"clean", "noise", "linf", "spatial", "robust"}` accuracies."""
        self.network.set_weights(trained.get_weights())
        net, x, y, c = self.network, self.x, self.y, self.config
        parts = {
            "clean": accuracy.clean_accuracy(net, x, y),
            "noise": accuracy.noise_curve(net, x, y, [c.noise], draws=1,
                                          seed=c.seed + 6000)[0],
            "linf": adversarial.adversarial_curve(
                net, x, y, [self.epsilon], attack="pgd", norm="inf", steps=c.pgd_steps,
                value_range=VALUE_RANGE, seed=c.seed + 7000)[0],
            "spatial": None,
        }
        if self.images:
            parts["spatial"] = spatial_eval.worst_of_k_accuracy(
                net, x, y, k=c.worst_of, translation=c.translation, rotation=c.rotation,
                seed=c.seed + 8000)
        if c.tune_objective == "mean":
            threats = [parts[k] for k in ("noise", "linf", "spatial") if parts[k] is not None]
            parts["robust"] = sum(threats) / len(threats)
        else:
            parts["robust"] = parts[c.tune_objective]
        return parts


class _MethodHyperModel(tuning.InvariantHyperModel):
    """A report method's search space; a trial trains and is scored here."""

    def __init__(self, method, make_base, config, scorer, floor):
        super().__init__(
            lambda base: method.build(base, config),
            build_base=lambda hp: make_base(), learning_rate=config.learning_rate)
        self.config, self.scorer, self.floor = config, scorer, floor

    def fit(self, hp, model, x, y, **kwargs):
        del kwargs  # the tuner's callbacks save models; nothing is saved here
        model.fit(x, y, batch_size=self.config.batch_size, epochs=self.config.epochs,
                  verbose=0, shuffle=True)
        parts = self.scorer.score(model.base_model)
        feasible = parts["clean"] >= self.floor
        return {"score": parts["robust"] - (0.0 if feasible else INFEASIBLE),
                "val_clean_accuracy": parts["clean"], "val_robust_accuracy": parts["robust"]}


def validation_split(x, y, fraction, seed):
    """A stratified split of the training data: `(x_fit, y_fit), (x_val, y_val)`.

    Example:

    >>> (xf, yf), (xv, yv) = validation_split(np.zeros((10, 2)), np.arange(10) % 2, 0.2, 0)
    >>> len(xf), sorted(yv.tolist())
    (8, [0, 1])
    """
    model_selection = require("sklearn.model_selection", "digits",
                              "The validation split of the fair mode")

    x_fit, x_val, y_fit, y_val = model_selection.train_test_split(
        x, y, test_size=fraction, random_state=seed, stratify=y)
    return (x_fit, y_fit), (x_val, y_val)


def tune_weights(methods, bases, x, y, config, stream=None):
    """Chooses every method's weights on a validation split, same budget each.

    Args:
        methods: The report's `Method`s.
        bases: The report's base-model factory (`make(seed)`).
        x: Training inputs (split here into fit and validation parts).
        y: Training labels.
        config: The resolved `ReportConfig` (`tune` is the trial budget).
        stream: Where progress and the chosen weights go.

    Returns:
        `{method key: {"weights": {name: value}, "defaults": {...},
        "trials": n, "validation": {...}, "note": str}}`.
    """
    (x_fit, y_fit), (x_val, y_val) = validation_split(
        x, y, config.validation_fraction, config.seed)
    scorer = ValidationScorer(bases.make(), x_val, y_val, config)
    plain = training.compile_model(
        training.build_method(_plain(), bases, config, config.seed), config)
    plain.fit(x_fit, y_fit, batch_size=config.batch_size, epochs=config.epochs,
              verbose=0, shuffle=True)
    reference = scorer.score(plain.base_model)
    floor = reference["clean"] - config.max_clean_drop
    if stream is not None:
        stream.write(
            f"fair mode: {config.tune} trials per method on {len(x_fit)} training / "
            f"{len(x_val)} validation examples; objective: {config.tune_objective} robust "
            f"accuracy, with validation clean accuracy ≥ plain's "
            f"{100 * reference['clean']:.1f}% − {100 * config.max_clean_drop:g} points\n")
    tuned = {}
    directory = tempfile.mkdtemp(prefix="keras_invariance_fair_")
    try:
        for method in methods:
            tuned[method.key] = _tune_one(method, bases, config, scorer, floor, reference,
                                          (x_fit, y_fit), directory)
            if stream is not None:
                stream.write(f"  {method.name:<22} {tuned[method.key]['note']}\n")
                stream.flush()
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    return tuned


def _plain():
    from keras_invariance.integrations.report.methods import METHODS

    return METHODS["plain"]


def _tune_one(method, bases, config, scorer, floor, reference, fit_data, directory):
    hypermodel = _MethodHyperModel(
        method, lambda: bases.make(config.seed), config, scorer, floor)
    defaults = tuning.term_values(method.build(bases.make(config.seed), config))
    space = hypermodel.search_space(method.build(bases.make(config.seed), config))
    if not space:
        validation = {"clean": reference["clean"], "robust": reference["robust"]}
        return {"weights": {}, "defaults": defaults, "trials": 0,
                "validation": validation if method.key == "plain" else None,
                "note": "nothing to search (no weights)"}
    oracle = DefaultsFirstRandomSearch(
        objective=keras_tuner.Objective("score", "max"), max_trials=config.tune,
        seed=config.seed)
    tuner = keras_tuner.Tuner(oracle=oracle, hypermodel=hypermodel, directory=directory,
                              project_name=method.key, overwrite=True)
    tuner.search(*fit_data, verbose=0)
    trials = [t for t in oracle.trials.values() if t.score is not None]
    best = max(trials, key=lambda t: t.score)
    chosen = dict(best.hyperparameters.values)

    def metric(name):
        return float(best.metrics.get_last_value(name))

    clean, robust = metric("val_clean_accuracy"), metric("val_robust_accuracy")
    changed = {k: v for k, v in chosen.items() if abs(v - defaults.get(k, v)) > 1e-12}
    summary = ", ".join(f"{k}={v:.3g}" for k, v in chosen.items())
    note = (f"{summary} (validation: clean {100 * clean:.1f}%, robust {100 * robust:.1f}%"
            f"{'' if clean >= floor else '; no trial met the clean constraint'}; "
            f"{'the defaults' if not changed else 'changed from the defaults'}; "
            f"{len(trials)} trials)")
    return {"weights": chosen, "defaults": defaults, "trials": len(trials),
            "validation": {"clean": clean, "robust": robust, "feasible": clean >= floor},
            "note": note}
