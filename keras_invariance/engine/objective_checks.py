"""The rules a training objective must satisfy, with errors that say what to do.

`check_terms` runs when an `InvariantModel` is built (so a wrong
combination fails at construction); `check_step` at the first step, once
`compile()` and the data are known.
"""

from keras import tree

from keras_invariance import distances as distances_lib
from keras_invariance.graph import outputs as outputs_lib
from keras_invariance.penalties.base import Penalty
from keras_invariance.utils import validation

#: Metric names of the model's own terms, which a penalty may not take.
RESERVED_NAMES = ("loss", "clean_loss", "perturbed_loss")


def check_terms(alpha, beta, perturbation, penalties):
    """Raises for an objective that cannot train or whose terms clash.

    Example:

    >>> check_terms(1.0, 0.0, None, [])
    >>> check_terms(0.0, 0.0, None, [])
    Traceback (most recent call last):
    ...
    ValueError: alpha = beta = 0 with no penalties leaves nothing to train. ...

    Args:
        alpha: α, the clean-loss weight.
        beta: β, the perturbed-loss weight.
        perturbation: The model's perturbation, or `None`.
        penalties: The list of penalties.

    Raises:
        ValueError: For a non-penalty in `penalties`, repeated or reserved
            penalty names, nothing to train, or β > 0 (or a penalty that
            compares perturbed activations) without a perturbation.
    """
    for penalty in penalties:
        if not isinstance(penalty, Penalty):
            raise ValueError(
                "`penalties` must hold `keras_invariance.Penalty` "
                f"objects; received {penalty!r}."
            )
    names = [penalty.name for penalty in penalties]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ValueError(
            f"Penalty names must be distinct (they are metric names); "
            f"{duplicates} appear more than once. Pass `name=` to tell "
            "them apart."
        )
    reserved = set(RESERVED_NAMES) & set(names)
    if reserved:
        raise ValueError(
            f"Penalty names {sorted(reserved)} are reserved for the "
            "model's own losses; pass another `name=`."
        )
    if alpha == 0 and beta == 0 and not penalties:
        raise ValueError(
            "alpha = beta = 0 with no penalties leaves nothing to train. "
            "Use alpha=1 for plain training, beta=1 for data "
            "augmentation, or add `penalties=[...]`."
        )
    if perturbation is None:
        if beta > 0:
            raise ValueError(
                f"beta={beta} weighs the loss on perturbed inputs, but no "
                "`perturbation` was given. Pass e.g. "
                "`perturbation=keras_invariance.perturbations.GaussianNoise(0.1)`."
            )
        needing = [p.name for p in penalties if p.requires_perturbation]
        if needing:
            raise ValueError(
                f"Penalties {needing} compare clean and perturbed "
                "activations, so they need a `perturbation`. Pass e.g. "
                "`perturbation=keras_invariance.perturbations.GaussianNoise(0.1)`."
            )


def check_step(supervised, has_labels, supervised_terms, penalties):
    """Raises when `compile()` and the data do not fit the objective.

    Example:

    >>> check_step(True, True, True, [])
    >>> check_step(True, False, True, [])
    Traceback (most recent call last):
    ...
    ValueError: The model was compiled with a loss, but `fit()` got no labels. ...

    Args:
        supervised: Whether `compile()` got a loss.
        has_labels: Whether the batch has labels.
        supervised_terms: Whether α or β was built > 0.
        penalties: The list of penalties.

    Raises:
        ValueError: For a loss without labels, α/β without a loss, or a
            penalty that needs the per-example loss without one.
    """
    if supervised and not has_labels:
        raise ValueError(
            "The model was compiled with a loss, but `fit()` got no "
            "labels. Pass `(x, y)` data; for unlabeled examples give any "
            "valid label and sample weight 0, or compile without a loss "
            "and use only label-free penalties."
        )
    if not supervised and (supervised_terms or not penalties):
        raise ValueError(
            "alpha and beta weigh the compiled loss, but `compile()` got "
            "no `loss`. Pass `compile(loss=...)`, or build the model with "
            "alpha=0 and beta=0 to train only label-free penalties."
        )
    needing_labels = [p.name for p in penalties if not p.label_free]
    if not supervised and needing_labels:
        raise ValueError(
            f"Penalties {needing_labels} differentiate the per-example "
            "loss, but `compile()` got no `loss`. Pass `compile(loss=...)`."
        )


def input_spec(model):
    """A graph model's input structure of `KerasTensor`s, or `None`."""
    return None if model is None else getattr(model, "input", None)


def check_perturbation_inputs(perturbation, model):
    """Raises at construction when a perturbation cannot apply to the inputs.

    Sequential and Functional models know their input dtypes and structure
    before the first step, so integer inputs under a float-only
    perturbation, or several inputs under a one-tensor perturbation, fail
    here rather than at the first batch.

    Example:

    >>> import keras
    >>> import keras_invariance as ki
    >>> ids = keras.Input((4,), dtype="int32")
    >>> model = keras.Model(ids, keras.layers.Dense(2)(keras.layers.Embedding(9, 2)(ids)))
    >>> check_perturbation_inputs(ki.perturbations.GaussianNoise(0.1), model)
    Traceback (most recent call last):
    ...
    ValueError: GaussianNoise needs float inputs but received int32 inputs. ...

    Args:
        perturbation: A `Perturbation`.
        model: The graph model, or `None` (subclassed: checked per step).

    Raises:
        ValueError: As described.
    """
    spec = input_spec(model)
    if spec is None:
        return
    name = type(perturbation).__name__
    if perturbation.single_input and len(tree.flatten(spec)) > 1:
        flat = tree.flatten(spec)
        names = [getattr(t, "name", "?") for t in flat]
        floats = [n for n, t in zip(names, flat) if validation.is_float(t)]
        example = (floats or names)[0]
        raise ValueError(
            f"{name} transforms one tensor, but the model has inputs {names}. "
            f"Say which input it applies to: `perturbation={{{example!r}: "
            f"{name}(...)}}` (inputs not named stay clean)."
        )
    if perturbation.requires_float_inputs:
        validation.check_float(spec, name, perturbation.float_input_hint)


def check_global_augmentation(augmentation):
    """Refuses a search as `global_augmentation` (applied without the model).

    Example:

    >>> check_global_augmentation(None)
    """
    if augmentation is not None and augmentation.is_adversarial:
        raise ValueError(
            "`global_augmentation` is applied to x before the step's "
            "passes, without the model, so it cannot be a search such as "
            f"{type(augmentation).__name__}; pass it as `perturbation=` "
            "instead."
        )


def check_num_samples(num_samples):
    """K as a Python int ≥ 1.

    Example:

    >>> check_num_samples(2.0)
    2
    """
    if int(num_samples) != num_samples or num_samples < 1:
        raise ValueError(
            f"`num_samples` (K) must be an integer ≥ 1; received {num_samples}."
        )
    return int(num_samples)


def check_batching(batching, modes):
    """`batching` if it is one of `modes`, else a ValueError listing them."""
    if batching not in modes:
        raise ValueError(
            f"`batching` must be one of {modes}; received {batching!r}."
        )
    return batching


def check_model_keywords(kwargs):
    """Refuses term arguments given to the model, saying where they go.

    Keras' own message ("Unrecognized keyword arguments passed to
    InvariantModel") does not say that `embedding_layer=` belongs to the
    gradient and adversarial terms.

    Example:

    >>> check_model_keywords({"name": "model"})
    """
    if "embedding_layer" in kwargs:
        raise ValueError(
            "`embedding_layer=` is an argument of the terms that "
            "differentiate or search at a token model's embedding (VAT, "
            "NoiseRegularized, JacobianRegularized, LossIBP, PredictionIBP, "
            "or `AdversarialLoss(search, embedding_layer=...)` for "
            "adversarial training of text), not of this preset or of "
            "InvariantModel, whose perturbation acts on the inputs. For a "
            "token model, perturb the ids with `ki.perturbations.UnigramNoise` / "
            "`ki.perturbations.BlankNoise`, or add one of those terms to `penalties=`."
        )


def resolve_for_terms(model, loss, from_logits, terms, check=True):
    """The `OutputSpec` an `InvariantModel` trains with, its terms checked.

    Explicit `from_logits=` values (the model's and each term's) must agree;
    every distance a term applies to the outputs (`output_distances`) is
    checked against the spec, so a KL on a regression fails at `compile()`
    with a message rather than inside the first step.

    Example:

    >>> import keras
    >>> base = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    >>> resolve_for_terms(base, "mse", None, []).describe()
    'a regression output'

    Args:
        model: The graph model (or `None` for a subclassed one).
        loss: The compiled loss, or `None` before `compile()`.
        from_logits: The model's explicit `from_logits`, or `None`.
        terms: The penalties and perturbations.
        check: Check the terms' distances (once the model is compiled, so
            the loss is known).

    Returns:
        An `OutputSpec`.

    Raises:
        ValueError: For contradicting `from_logits` values or a distance
            that does not fit the outputs.
    """
    declared = {"InvariantModel": from_logits}
    declared.update({t.name: getattr(t, "from_logits", None) for t in terms})
    explicit = {name: bool(v) for name, v in declared.items() if v is not None}
    if len(set(explicit.values())) > 1:
        raise ValueError(
            f"The terms disagree on whether the model returns logits: "
            f"{explicit}. Give `from_logits=` once, to the InvariantModel or "
            "preset (or leave it out: the package reads the model's final "
            "activation and the compiled loss)."
        )
    spec = outputs_lib.resolve(model, loss, next(iter(explicit.values()), None))
    for term in terms if check else ():
        for distance in getattr(term, "output_distances", ()):
            distances_lib.for_outputs(distance, spec, term.name)
    return spec
