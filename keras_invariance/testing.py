"""A conformance kit for penalties and perturbations, own or shipped.

In the spirit of Keras' `run_layer_test`: `check_penalty` and
`check_perturbation` put one term through the checks every term of this
package passes, so a user's own term is held to the same standard:

- `"fit"`: `fit()` runs and logs the term with finite values, not all zero;
- `"save_load"`: a `.keras` round trip keeps the term's config and its value
  on a fixed batch (`compute_objective`);
- `"xla"`: `jit_compile=True` gives the eager objective and update;
- `"bfloat16"`: the `mixed_bfloat16` policy trains with finite losses;
- `"mirrored"`: `MirroredStrategy` over two logical CPUs gives the weights of
  one device. Logical devices can only be set before TensorFlow starts, and
  a second `MirroredStrategy` in one process breaks later collectives, so
  this check runs in a fresh Python process: its factories must be
  importable (module-level functions, not lambdas).

Every failure is an `AssertionError` naming the check and the reason.
"""

import json
import math
import os
import pickle
import subprocess
import sys
import tempfile

import keras
import numpy as np

from keras_invariance.engine.model import InvariantModel
from keras_invariance.penalties.base import Penalty
from keras_invariance.perturbations.base import Perturbation
from keras_invariance.perturbations.noise import GaussianNoise

ALL_CHECKS = ("fit", "save_load", "xla", "bfloat16", "mirrored")
_LOSS = None  # sparse categorical cross-entropy on logits
_MIRRORED_TIMEOUT = 600


def default_model():
    """The kit's default model: a seeded MLP from 6 features to 3 logits.

    Returns:
        An uncompiled functional `keras.Model` whose last layer is named
        `"logits"`.

    Example:

    >>> default_model().output_shape
    (None, 3)
    """
    keras.utils.set_random_seed(0)
    inputs = keras.Input((6,), name="x")
    h = keras.layers.Dense(8, activation="tanh", name="hidden")(inputs)
    outputs = keras.layers.Dense(3, name="logits")(h)
    return keras.Model(inputs, outputs, name="base")


def default_data(rows=16):
    """The kit's default data: `rows` normal rows of 6 features, 3 classes.

    Args:
        rows: The number of rows.

    Returns:
        A tuple `(x, y)` of float32 inputs and int32 labels.

    Example:

    >>> x, y = default_data(4)
    >>> x.shape, y.shape
    ((4, 6), (4,))
    """
    rng = np.random.default_rng(0)
    x = rng.normal(size=(rows, 6)).astype("float32")
    y = rng.integers(0, 3, size=(rows,)).astype("int32")
    return x, y


def _fail(check, term, why):
    raise AssertionError(f"[{check}] {term}: {why}")


class _Case:
    """One term with its model and data; builds a fresh model per check."""

    def __init__(self, kind, factory, model_factory, data, *, perturbation_factory=None,
                 beta=None, loss=_LOSS, batch_size=8, steps=2):
        self.kind = kind
        self.factory = factory
        self.model_factory = model_factory or default_model
        if data is None:
            data = default_data
        if callable(data):
            data = data()
        self.x, self.y = data
        self.perturbation_factory = perturbation_factory
        self.beta = beta
        self.loss = loss
        self.batch_size = batch_size
        self.steps = steps
        self.term_name = None

    def rows(self, n):
        return (keras.tree.map_structure(lambda t: np.asarray(t)[:n], self.x),
                np.asarray(self.y)[:n])

    def build(self, **compile_kwargs):
        keras.utils.set_random_seed(0)
        term = self.factory()
        if self.kind == "penalty":
            if not isinstance(term, Penalty):
                raise TypeError(f"`penalty_factory` must return a Penalty; received {term!r}.")
            perturbation = None
            if self.perturbation_factory is not None:
                perturbation = self.perturbation_factory()
            elif term.requires_perturbation:
                perturbation = GaussianNoise(0.1, seed=0)
            beta = 0.0 if self.beta is None else self.beta
            model = InvariantModel(self.model_factory(), perturbation=perturbation,
                                   penalties=[term], beta=beta)
        else:
            if not isinstance(term, Perturbation):
                raise TypeError(
                    f"`perturbation_factory` must return a Perturbation; received {term!r}.")
            beta = 1.0 if self.beta is None else self.beta
            model = InvariantModel(self.model_factory(), perturbation=term, beta=beta)
        self.term_name = term.name if self.kind == "penalty" else "perturbed_loss"
        self.label = f"{type(term).__name__} ({self.kind})"
        compile_kwargs.setdefault("optimizer", keras.optimizers.SGD(0.05))
        loss = self.loss
        if loss is None:
            loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
        compile_kwargs.setdefault("loss", loss)
        model.compile(**compile_kwargs)
        return model

    def fit(self, model, steps=None):
        x, y = self.rows((steps or self.steps) * self.batch_size)
        return model.fit(x, y, batch_size=self.batch_size, shuffle=False, verbose=0)

    def term(self, model):
        if self.kind == "penalty":
            return model.penalties[0]
        return model.perturbation


def _check_fit(case):
    model = case.build()
    history = case.fit(model).history
    if case.term_name not in history:
        _fail("fit", case.label, f"the term's metric {case.term_name!r} is not in "
              f"history.history ({sorted(history)}); log it under the term's name.")
    values = np.asarray(history[case.term_name], dtype="float64")
    if not np.all(np.isfinite(values)) or not np.all(np.isfinite(history["loss"])):
        _fail("fit", case.label, f"non-finite values: {case.term_name}={values.tolist()}, "
              f"loss={history['loss']}.")
    if np.all(values == 0.0):
        _fail("fit", case.label, f"{case.term_name!r} is 0 at every epoch: the term computes "
              "nothing on this model and data.")


def _objective_terms(model, case):
    x, y = case.rows(case.batch_size)
    total, terms = model.compute_objective(x, y)
    return float(total), float(terms[case.term_name])


def _canonical(config):
    return json.loads(json.dumps(config, default=repr))


def _check_save_load(case, tmp_dir):
    model = case.build()
    case.fit(model, steps=1)
    path = os.path.join(tmp_dir, "conformance.keras")
    model.save(path)
    try:
        loaded = keras.models.load_model(path)
    except Exception as error:  # noqa: BLE001 - reported with the check's name
        _fail("save_load", case.label, f"load_model failed: {type(error).__name__}: {error}. "
              "Register the class (keras_invariance_export or "
              "keras.saving.register_keras_serializable) and give it a complete get_config.")
    before, after = case.term(model), case.term(loaded)
    if type(before) is not type(after):
        _fail("save_load", case.label, f"loaded as {type(after).__name__}.")
    if _canonical(before.get_config()) != _canonical(after.get_config()):
        _fail("save_load", case.label, "the config changed in the round trip:\n"
              f"  saved:  {before.get_config()}\n  loaded: {after.get_config()}")
    expected, got = _objective_terms(model, case), _objective_terms(loaded, case)
    if not np.allclose(expected, got, rtol=1e-5, atol=1e-6):
        _fail("save_load", case.label, f"(objective, {case.term_name}) on a fixed batch was "
              f"{expected} before saving and {got} after loading; save every variable and "
              "seed state the term reads.")


def _check_xla(case, rtol):
    results = []
    for jit in (False, True):
        model = case.build(jit_compile=jit)
        history = case.fit(model, steps=1).history
        results.append((history["loss"][0], history[case.term_name][0], model.get_weights()))
    (eager_loss, eager_term, eager_w), (xla_loss, xla_term, xla_w) = results
    if not np.allclose([eager_loss, eager_term], [xla_loss, xla_term], rtol=rtol, atol=rtol):
        _fail("xla", case.label, f"(loss, {case.term_name}) is ({eager_loss}, {eager_term}) "
              f"eagerly and ({xla_loss}, {xla_term}) under jit_compile=True (rtol {rtol}).")
    worst = max(float(np.max(np.abs(a - b))) for a, b in zip(eager_w, xla_w))
    if worst > 10 * rtol:
        _fail("xla", case.label, f"the weights after one step differ by {worst:.3g} "
              "between eager and jit_compile=True.")


def _check_bfloat16(case):
    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        model = case.build()
        history = case.fit(model).history
    finally:
        keras.mixed_precision.set_global_policy(previous)
    for name in ("loss", case.term_name):
        values = history.get(name)
        if values is None or not np.all(np.isfinite(values)):
            _fail("bfloat16", case.label, f"{name}={values} under mixed_bfloat16: compute the "
                  "term in float32 (cast with keras.ops.cast) where bfloat16 overflows.")


def check_mirrored(cases, atol=1e-5):
    """Runs the mirrored check for several terms in one fresh process.

    Each case trains the same model on one device and under
    `tf.distribute.MirroredStrategy` over two logical CPUs from the same
    initial weights; the final weights must agree to `atol`. One process
    serves all cases, so a suite pays TensorFlow's start-up once.

    Args:
        cases: A list of dicts, each with `kind` (`"penalty"` or
            `"perturbation"`), `factory` and optionally `model_factory`,
            `data`, `perturbation_factory`, `beta`, `loss`, `batch_size` and
            `steps` as in `check_penalty`. Factories must be importable
            module-level functions, and `data` arrays or such a function.
        atol: The largest absolute difference allowed between weights.

    Returns:
        None. Raises `AssertionError` naming the first case that fails.

    Example:

    ```python
    check_mirrored([{"kind": "penalty", "factory": make_my_penalty}])
    ```

    A lambda cannot reach the subprocess, and the check says so:

    >>> check_mirrored([{"kind": "penalty", "factory": lambda: None}])
    Traceback (most recent call last):
    ...
    AssertionError: [mirrored] ...: factory=<function <lambda> ...> is not an importable ...
    """
    for case in cases:
        for key in ("factory", "model_factory", "perturbation_factory", "data"):
            value = case.get(key)
            if callable(value) and ("<" in getattr(value, "__qualname__", "<")):
                _fail("mirrored", repr(case.get("factory")), f"{key}={value!r} is not an "
                      "importable module-level function; the check runs in a subprocess.")
    with tempfile.TemporaryDirectory() as tmp:
        spec = os.path.join(tmp, "cases.pkl")
        try:
            with open(spec, "wb") as f:
                pickle.dump((cases, atol), f)
        except (pickle.PicklingError, AttributeError, TypeError) as error:
            _fail("mirrored", "cases", f"cannot pass the cases to a subprocess ({error}); use "
                  "module-level factories and array data.")
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join([os.getcwd()] + [p for p in sys.path if p])
        env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        code = ("import sys; from keras_invariance import testing; "
                "testing._mirrored_main(sys.argv[1])")
        try:
            proc = subprocess.run([sys.executable, "-c", code, spec], env=env,
                                  capture_output=True, text=True, timeout=_MIRRORED_TIMEOUT)
        except subprocess.TimeoutExpired:
            _fail("mirrored", "cases", f"the subprocess did not finish in {_MIRRORED_TIMEOUT} s.")
    if proc.returncode != 0:
        tail = (proc.stdout + proc.stderr)[-3000:]
        marker = tail.rfind("AssertionError: ")
        reason = tail[marker + len("AssertionError: "):] if marker >= 0 else tail
        raise AssertionError(reason.strip() if marker >= 0 else f"[mirrored] subprocess "
                             f"failed (exit {proc.returncode}):\n{tail}")


def _mirrored_main(spec):
    """Entry point of the mirrored subprocess (two logical CPUs, one strategy)."""
    import tensorflow as tf

    cpus = tf.config.list_physical_devices("CPU")
    tf.config.set_logical_device_configuration(
        cpus[0], [tf.config.LogicalDeviceConfiguration()] * 2)
    with open(spec, "rb") as f:
        cases, atol = pickle.load(f)
    strategy = tf.distribute.MirroredStrategy(["CPU:0", "CPU:1"])
    for options in cases:
        options = dict(options)
        case = _Case(options.pop("kind"), options.pop("factory"),
                     options.pop("model_factory", None), options.pop("data", None), **options)
        case.batch_size = max(case.batch_size, 2) // 2 * 2  # each replica gets half
        single = case.build()
        initial = single.get_weights()
        case.fit(single)
        with strategy.scope():
            mirrored = case.build()
        mirrored.set_weights(initial)
        case.fit(mirrored)
        moved = max(float(np.max(np.abs(a - b))) for a, b in zip(single.get_weights(), initial))
        if moved <= 1e-6:
            _fail("mirrored", case.label, "training did not move the weights; the check is void.")
        worst = max(float(np.max(np.abs(a - b)))
                    for a, b in zip(single.get_weights(), mirrored.get_weights()))
        if not worst <= atol or math.isnan(worst):
            _fail("mirrored", case.label, f"weights after {case.steps} steps differ by {worst:.3g} "
                  f"(> {atol}) between one device and MirroredStrategy on two: key every random "
                  "draw to the global row (ops.random_ops) and average over the global batch.")


def _run(kind, factory, model_factory, data, checks, options):
    unknown = set(checks) - set(ALL_CHECKS)
    if unknown:
        raise ValueError(f"Unknown checks {sorted(unknown)}; choose from {ALL_CHECKS}.")
    xla_rtol = options.pop("xla_rtol", 1e-4)
    atol = options.pop("mirrored_atol", 1e-5)
    case = _Case(kind, factory, model_factory, data, **options)
    with tempfile.TemporaryDirectory() as tmp:
        for check in checks:
            if check == "fit":
                _check_fit(case)
            elif check == "save_load":
                _check_save_load(case, tmp)
            elif check == "xla":
                _check_xla(case, xla_rtol)
            elif check == "bfloat16":
                _check_bfloat16(case)
            elif check == "mirrored":
                check_mirrored([dict(kind=kind, factory=factory, model_factory=model_factory,
                                     data=data, **options)], atol=atol)


def check_penalty(penalty_factory, model_factory=None, data=None, *, checks=ALL_CHECKS,
                  perturbation_factory=None, beta=None, loss=_LOSS, batch_size=8, steps=2,
                  xla_rtol=1e-4, mirrored_atol=1e-5):
    """Puts a penalty through the package's conformance checks.

    Each check builds a fresh `InvariantModel(model_factory(),
    penalties=[penalty_factory()])` (plus a perturbation when the penalty
    `requires_perturbation`), compiled with SGD and `loss`, and trains it
    for `steps` batches of `batch_size` rows of `data`.

    Args:
        penalty_factory: A function returning a new `Penalty`.
        model_factory: A function returning a new uncompiled Keras model;
            defaults to `default_model` (6 features, 3 logits).
        data: `(x, y)` arrays or a function returning them; defaults to
            `default_data`. At least `steps * batch_size` rows.
        checks: The checks to run, a subset of `"fit"`, `"save_load"`,
            `"xla"`, `"bfloat16"`, `"mirrored"`.
        perturbation_factory: A function returning the perturbation when the
            penalty needs one; defaults to `GaussianNoise(0.1, seed=0)`.
        beta: The perturbed loss weight; defaults to 0.
        loss: The compiled loss; defaults to sparse categorical
            cross-entropy on logits.
        batch_size: Rows per step.
        steps: Steps of the fit, bfloat16 and mirrored checks.
        xla_rtol: Tolerance between eager and XLA objectives.
        mirrored_atol: Tolerance between one-device and mirrored weights.

    Returns:
        None. Raises `AssertionError` saying which check failed and why.

    Example:

    >>> from keras_invariance.penalties import Jacobian
    >>> check_penalty(lambda: Jacobian(seed=0), checks=("fit",))

    A user's own term, with every check (the mirrored one needs module-level
    factories):

    ```python
    from keras_invariance import testing
    testing.check_penalty(make_my_penalty, make_my_model, (x, y))
    ```
    """
    _run("penalty", penalty_factory, model_factory, data, checks, dict(
        perturbation_factory=perturbation_factory, beta=beta, loss=loss, batch_size=batch_size,
        steps=steps, xla_rtol=xla_rtol, mirrored_atol=mirrored_atol))


def check_perturbation(perturbation_factory, model_factory=None, data=None, *, checks=ALL_CHECKS,
                       beta=1.0, loss=_LOSS, batch_size=8, steps=2, xla_rtol=1e-4,
                       mirrored_atol=1e-5):
    """Puts a perturbation through the package's conformance checks.

    Each check builds a fresh `InvariantModel(model_factory(),
    perturbation=perturbation_factory(), beta=beta)`, so the term under test
    is the perturbed loss (`perturbed_loss` in the logs).

    Args:
        perturbation_factory: A function returning a new `Perturbation`.
        model_factory: A function returning a new uncompiled Keras model
            whose input the perturbation accepts (images for spatial terms,
            waveforms for audio, token ids for token noise); defaults to
            `default_model`.
        data: `(x, y)` arrays or a function returning them; defaults to
            `default_data`. At least `steps * batch_size` rows.
        checks: The checks to run, a subset of `"fit"`, `"save_load"`,
            `"xla"`, `"bfloat16"`, `"mirrored"`.
        beta: The perturbed loss weight.
        loss: The compiled loss; defaults to sparse categorical
            cross-entropy on logits.
        batch_size: Rows per step.
        steps: Steps of the fit, bfloat16 and mirrored checks.
        xla_rtol: Tolerance between eager and XLA objectives.
        mirrored_atol: Tolerance between one-device and mirrored weights.

    Returns:
        None. Raises `AssertionError` saying which check failed and why.

    Example:

    >>> from keras_invariance.perturbations import GaussianNoise
    >>> check_perturbation(lambda: GaussianNoise(0.1, seed=1), checks=("fit",))

    A user's own term, with every check (the mirrored one needs module-level
    factories):

    ```python
    from keras_invariance import testing
    testing.check_perturbation(make_my_noise, make_my_model, (x, y))
    ```
    """
    _run("perturbation", perturbation_factory, model_factory, data, checks, dict(
        beta=beta, loss=loss, batch_size=batch_size, steps=steps, xla_rtol=xla_rtol,
        mirrored_atol=mirrored_atol))
