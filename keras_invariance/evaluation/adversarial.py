"""Accuracy under ℓ∞ and ℓ2 FGSM and PGD attacks on any Keras model.

`fgsm_accuracy` is the Invariant BP paper's test attack (eq. 4) with a
per-channel ε. `adversarial_accuracy`, `adversarial_curve` (one point per ε,
the x-axis of the paper's Fig. 2) and `adversarial_examples` run the
package's own searches (`keras_invariance.perturbations.FGSM`,
`keras_invariance.perturbations.PGD`, the code adversarial training trains
with) in inference mode, through a `StepContext` built around the plain
model: the cross-entropy of the true labels is what they maximise.

Robust accuracy counts an example as correct only if the model classifies
it correctly both clean and after every attack (every restart), as
RobustBench and AutoAttack do; so it never exceeds the clean accuracy, and at
ε = 0 it equals it.
"""

import weakref

import keras
import numpy as np
import tensorflow as tf

from keras_invariance.engine.context import StepContext
from keras_invariance.engine.context import inference_scores
from keras_invariance.evaluation import common
from keras_invariance.graph import outputs as outputs_lib
from keras_invariance.perturbations.adversarial import FGSM
from keras_invariance.perturbations.adversarial import PGD

#: The searches of `adversarial_accuracy` (`attack=`).
ATTACKS = ("fgsm", "pgd")

# Compiled attacks per model and settings, so that evaluating the same model
# again (a callback every epoch, the report's one evaluation network) does not
# retrace. Weak keys let models be freed; attacks hold their model weakly.
_ATTACKS = weakref.WeakKeyDictionary()


def _get_attack(model, *settings):
    try:
        per_model = _ATTACKS.setdefault(model, {})
    except TypeError:  # not weak-referenceable: build a fresh attack
        return _Attack(model, *settings)
    if settings not in per_model:
        per_model[settings] = _Attack(weakref.ref(model), *settings)
    return per_model[settings]


def fgsm_accuracy(model, x, y, epsilon, batch_size=256, value_range=None,
                  from_logits=None):
    """Accuracy on x + ε·sign(∇x CE(f(x), y)), the FGSM attack.

    Example:

    >>> import keras
    >>> model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(3)])
    >>> acc = fgsm_accuracy(model, np.ones((4, 2), "float32"), [0, 1, 2, 0], 0.1)
    >>> 0.0 <= acc <= 1.0
    True

    Args:
        model: A model returning class scores (called with `training=False`).
        x: Float inputs.
        y: Integer labels.
        epsilon: The ℓ∞ step, a number or an array broadcastable to one
            input (e.g. per channel: ε on normalized images is ε·std_c on
            pixels).
        batch_size: Examples per gradient pass.
        value_range: Optional `(low, high)` clip of the adversarial inputs.
        from_logits: Whether the model returns logits; `None` (default)
            reads its final activation (a softmax or sigmoid: no).

    Returns:
        A Python float in [0, 1].

    Reference:
        Demyanov et al., "Invariant backpropagation" (2015), eq. 4;
        Goodfellow et al. (2015).
    """
    labels = common.checked_inputs(x, y, "fgsm_accuracy")
    if np.any(np.asarray(epsilon) < 0):
        raise ValueError(f"`epsilon` must be ≥ 0; received {epsilon!r}.")
    eps = tf.constant(np.asarray(epsilon, "float32"))
    from_logits = outputs_lib.model_from_logits(model, from_logits)

    @tf.function(reduce_retracing=True)
    def correct(xb, yb):
        with tf.GradientTape() as tape:
            tape.watch(xb)
            loss = keras.losses.sparse_categorical_crossentropy(
                yb, inference_scores(model, xb), from_logits=from_logits
            )
        x_adv = xb + tf.cast(eps, xb.dtype) * tf.sign(tape.gradient(loss, xb))
        if value_range is not None:
            x_adv = tf.clip_by_value(x_adv, *value_range)
        pred = tf.argmax(inference_scores(model, x_adv), -1, output_type=tf.int64)
        return tf.reduce_sum(tf.cast(tf.equal(pred, yb), tf.int32))

    hits = 0
    for _, xb, yb in common.float_batches(x, labels, batch_size):
        hits += int(correct(xb, yb))
    return hits / len(labels) if len(labels) else 0.0


def _norm(norm):
    if norm in ("inf", np.inf, float("inf"), "linf", "Linf"):
        return "inf"
    if norm in (2, "2", "l2", "L2"):
        return "2"
    raise ValueError(f"`norm` must be 'inf' or 2; received {norm!r}.")


class _Attack:
    """One search and its compiled step, reused across ε without retracing.

    ε and the PGD step size are the searches' non-trainable variables, so a
    curve assigns them between points; the seed generator is reset to the
    same state at every point, so point j of a curve equals a single call at
    ε_j with the same seed.
    """

    def __init__(self, model, attack, norm, steps, step_size, random_start,
                 restarts, value_range, from_logits, seed, jit_compile):
        if attack not in ATTACKS:
            raise ValueError(
                f"`attack` must be one of {ATTACKS}; received {attack!r}."
            )
        if int(restarts) != restarts or restarts < 1:
            raise ValueError(f"`restarts` must be an integer ≥ 1; received {restarts!r}.")
        if int(steps) != steps or steps < 1:
            raise ValueError(f"`steps` must be an integer ≥ 1; received {steps!r}.")
        if step_size is not None and not (np.isfinite(step_size) and step_size > 0):
            raise ValueError(f"`step_size` must be a number > 0; received {step_size!r}.")
        self.norm = _norm(norm)
        self.attack = attack
        self.steps = int(steps)
        self.step_size = step_size
        common_kwargs = dict(value_range=value_range, from_logits=from_logits, seed=seed)
        if attack == "fgsm" and self.norm == "inf":
            self.search = FGSM(epsilon=0.0, **common_kwargs)
        elif attack == "fgsm":
            # The ℓ2 fast gradient method, x + ε·g/‖g‖₂: one PGD step of
            # length ε from x, already on the sphere.
            self.search = PGD(epsilon=0.0, norm="2", steps=1, step_size=0.0,
                              random_start=False, **common_kwargs)
        else:
            self.search = PGD(epsilon=0.0, norm=self.norm, steps=self.steps,
                              step_size=0.0, random_start=random_start,
                              **common_kwargs)
        self._state = np.array(self.search.seed_generator.state.numpy())
        restarts = int(restarts)

        @tf.function(jit_compile=jit_compile, reduce_retracing=True)
        def step(images, targets):
            # `model` may be a weak reference (see `_get_attack`).
            net = model() if isinstance(model, weakref.ref) else model
            context = StepContext.for_model(net, images, targets, from_logits)
            clean = context.forward(images).outputs
            _check_scores(clean)
            ok = tf.equal(tf.argmax(clean, -1, output_type=tf.int64), targets)
            found = images
            for _ in range(restarts):
                x_adv = self.search.search(images, context)
                pred = tf.argmax(inference_scores(net, x_adv), -1,
                                 output_type=tf.int64)
                still = tf.equal(pred, targets)
                # Rows still correct before this restart take its input: the
                # first that broke them, or the latest attempt.
                found = tf.where(
                    tf.reshape(ok, [-1] + [1] * (len(images.shape) - 1)),
                    x_adv, found,
                )
                ok = ok & still
            return ok, found

        self.step = step

    def set_epsilon(self, epsilon):
        self.search.epsilon.assign(epsilon)
        if isinstance(self.search, PGD):
            if self.attack == "fgsm":
                size = epsilon
            elif self.step_size is None:
                size = 2.5 * epsilon / self.steps  # Madry et al.
            else:
                size = self.step_size
            self.search.step_size.assign(size)
        self.search.seed_generator.state.assign(self._state)

    def run(self, x, labels, batch_size, keep_examples=False):
        flags = np.zeros(len(labels), dtype=bool)
        examples = [] if keep_examples else None
        for start, xb, yb in common.float_batches(x, labels, batch_size):
            ok, found = self.step(xb, yb)
            flags[start:start + xb.shape[0]] = ok.numpy()
            if keep_examples:
                examples.append(found.numpy())
        if keep_examples:
            return flags, (np.concatenate(examples) if examples else np.asarray(x))
        return flags


def _range_key(value_range):
    return None if value_range is None else tuple(float(v) for v in value_range)


def _check_scores(scores):
    if scores.shape.rank != 2:
        raise ValueError(
            "The model must return class scores of shape (batch, "
            f"num_classes); received shape {scores.shape}."
        )


def adversarial_curve(model, x, y, epsilons, attack="fgsm", norm="inf",
                      steps=10, step_size=None, random_start=True, restarts=1,
                      value_range=None, from_logits=None, seed=0,
                      batch_size=256, jit_compile=False):
    """Robust accuracy under FGSM or PGD (ℓ∞ or ℓ2) at each ε of a list.

    One compiled search serves every ε (ε and the step size are variables),
    and every point starts PGD from the same random directions, scaled to
    its ball. See `adversarial_accuracy` for the attacks.

    Example:

    >>> import keras
    >>> model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(3)])
    >>> x, y = np.ones((4, 2), "float32"), [0, 1, 2, 0]
    >>> curve = adversarial_curve(model, x, y, [0.0, 0.1, 0.5], attack="pgd")
    >>> from keras_invariance.evaluation import clean_accuracy
    >>> curve[0] == clean_accuracy(model, x, y) and len(curve) == 3
    True

    Args:
        model: A Keras model (called with `training=False`) or a callable
            returning class scores `(batch, num_classes)`.
        x: Float inputs (one tensor).
        y: Sparse labels `(n,)` / `(n, 1)` or one-hot `(n, num_classes)`.
        epsilons: A non-empty list of radii ε ≥ 0, in the units of `x`.
        attack: `"fgsm"` (one step) or `"pgd"`.
        norm: `"inf"` or `2`.
        steps: PGD steps.
        step_size: PGD's step; default 2.5·ε/steps at each ε (Madry et al.).
        random_start: PGD starts at a uniform point of the ball.
        restarts: Independent attacks per example; an example counts as
            correct only if it survives every one.
        value_range: Optional `(low, high)` clip of the attacked inputs
            (e.g. `(0, 1)` for pixels).
        from_logits: Whether the model returns logits; `None` (default)
            reads its final activation (a softmax or sigmoid: no).
        seed: Int seed of the random starts.
        batch_size: Examples per attack.
        jit_compile: Compile the attack with XLA.

    Returns:
        A list of Python floats in [0, 1], one per ε, in the given order.

    Raises:
        ValueError: For an empty or negative ε list, an unknown attack or
            norm, integer inputs, mismatched lengths, or a model that does
            not return `(batch, num_classes)`.

    Reference:
        Demyanov et al., "Invariant backpropagation: how to train a
        transformation-invariant neural network" (2015), eq. 4 and Fig. 2;
        Madry et al., "Towards Deep Learning Models Resistant to
        Adversarial Attacks" (2018) (PGD).
    """
    epsilons = common.check_levels(epsilons, "epsilons", "adversarial_curve")
    labels = common.checked_inputs(x, y, "adversarial_curve")
    common.check_batch_size(batch_size)
    runner = _get_attack(model, attack, norm, steps, step_size, random_start,
                         restarts, _range_key(value_range), from_logits, seed,
                         jit_compile)
    curve = []
    for epsilon in epsilons:
        runner.set_epsilon(epsilon)
        flags = runner.run(x, labels, batch_size)
        curve.append(float(flags.mean()) if len(flags) else 0.0)
    return curve


def adversarial_accuracy(model, x, y, epsilon, attack="pgd", norm="inf",
                         steps=10, step_size=None, random_start=True,
                         restarts=1, value_range=None, from_logits=None,
                         seed=0, batch_size=256, jit_compile=False,
                         return_per_example=False):
    """Robust accuracy under one FGSM or PGD attack of radius ε.

    * `attack="fgsm"`, `norm="inf"`: x + ε·sign(∇x L) (`keras_invariance.perturbations.FGSM`).
    * `attack="fgsm"`, `norm=2`: x + ε·∇x L / ‖∇x L‖₂ (the fast gradient
      method; one `PGD` step of length ε).
    * `attack="pgd"`: `keras_invariance.perturbations.PGD`, `steps` projected steps within
      the ℓ∞ or ℓ2 ball, from a random start.

    L is the cross-entropy of the true labels. An example counts as correct
    only if it is classified correctly clean and after every restart.

    Example:

    >>> import keras
    >>> model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(3)])
    >>> acc = adversarial_accuracy(model, np.ones((4, 2), "float32"),
    ...                            [0, 1, 2, 0], 0.1, norm=2)
    >>> 0.0 <= acc <= 1.0
    True

    Args:
        model: A Keras model or a callable returning class scores.
        x: Float inputs.
        y: Sparse or one-hot labels.
        epsilon: The radius ε ≥ 0 (a number).
        attack: `"pgd"` (default) or `"fgsm"`.
        norm: `"inf"` or `2`.
        steps: PGD steps.
        step_size: PGD's step (default 2.5·ε/steps).
        random_start: PGD's random start.
        restarts: Attacks per example.
        value_range: Optional clip of the attacked inputs.
        from_logits: Whether the model returns logits; `None` (default)
            reads its final activation (a softmax or sigmoid: no).
        seed: Int seed.
        batch_size: Examples per attack.
        jit_compile: Compile with XLA.
        return_per_example: Also return the boolean per-example flags.

    Returns:
        A Python float in [0, 1], or `(accuracy, flags)`.

    Raises:
        ValueError: As `adversarial_curve`.
    """
    epsilon = common.check_levels([epsilon], "epsilon", "adversarial_accuracy")[0]
    labels = common.checked_inputs(x, y, "adversarial_accuracy")
    common.check_batch_size(batch_size)
    runner = _get_attack(model, attack, norm, steps, step_size, random_start,
                         restarts, _range_key(value_range), from_logits, seed,
                         jit_compile)
    runner.set_epsilon(epsilon)
    flags = runner.run(x, labels, batch_size)
    acc = float(flags.mean()) if len(flags) else 0.0
    return (acc, flags) if return_per_example else acc


def pgd_accuracy(model, x, y, epsilon, norm="inf", steps=10, **kwargs):
    """Robust accuracy under PGD: `adversarial_accuracy(..., attack="pgd")`.

    Example:

    >>> import keras
    >>> model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(3)])
    >>> 0.0 <= pgd_accuracy(model, np.ones((4, 2), "float32"), [0, 1, 2, 0], 0.1) <= 1.0
    True

    Args:
        model: A Keras model or a callable returning class scores.
        x: Float inputs.
        y: Sparse or one-hot labels.
        epsilon: The radius ε ≥ 0.
        norm: `"inf"` or `2`.
        steps: PGD steps.
        **kwargs: Other `adversarial_accuracy` arguments.

    Returns:
        A Python float in [0, 1].
    """
    return adversarial_accuracy(model, x, y, epsilon, attack="pgd", norm=norm,
                                steps=steps, **kwargs)


def adversarial_examples(model, x, y, epsilon, attack="pgd", norm="inf",
                         steps=10, step_size=None, random_start=True,
                         restarts=1, value_range=None, from_logits=None,
                         seed=0, batch_size=256):
    """The attacked inputs of `adversarial_accuracy`, as a NumPy array.

    Row i is the first restart's input that the model misclassifies, or the
    last attacked input when none does (and x_i itself when x_i is already
    misclassified). Every row lies in the ε-ball around x_i (and in
    `value_range`).

    Example:

    >>> import keras
    >>> model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(3)])
    >>> x = np.ones((4, 2), "float32")
    >>> x_adv = adversarial_examples(model, x, [0, 1, 2, 0], 0.1)
    >>> bool(np.max(np.abs(x_adv - x)) <= 0.1 + 1e-6)
    True

    Args:
        model: A Keras model or a callable returning class scores.
        x: Float inputs.
        y: Sparse or one-hot labels.
        epsilon: The radius ε ≥ 0.
        attack: `"pgd"` or `"fgsm"`.
        norm: `"inf"` or `2`.
        steps: PGD steps.
        step_size: PGD's step.
        random_start: PGD's random start.
        restarts: Attacks per example.
        value_range: Optional clip.
        from_logits: Whether the model returns logits; `None` (default)
            reads its final activation (a softmax or sigmoid: no).
        seed: Int seed.
        batch_size: Examples per attack.

    Returns:
        A float32 array shaped like `x`.

    Raises:
        ValueError: As `adversarial_curve`.
    """
    epsilon = common.check_levels([epsilon], "epsilon", "adversarial_examples")[0]
    labels = common.checked_inputs(x, y, "adversarial_examples")
    common.check_batch_size(batch_size)
    runner = _get_attack(model, attack, norm, steps, step_size, random_start,
                         restarts, _range_key(value_range), from_logits, seed,
                         False)
    runner.set_epsilon(epsilon)
    _, examples = runner.run(x, labels, batch_size, keep_examples=True)
    return examples
