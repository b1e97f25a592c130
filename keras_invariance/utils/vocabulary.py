"""One name per concept: the words every term and preset uses.

`scale=` says on which scale a term (and so its weight) is measured:
`"normalized"` (default) divides the raw term by a statistic of the same
step's clean batch that carries its units (`keras_invariance.ops.scales`),
so one weight means the same on any model, width and input range;
`"paper"` is the paper's raw term, with the paper's weight where a preset
has one. What `"normalized"` divides by, per term:

* `ActivationDistance`, `OutputDivergence` (`IRL`): normalized divides each
  layer's L2 part by its clean energy E‖a‖² (in the gradient), IRL's γ = 0.1;
  paper is the raw ‖u−v‖² (− λ·cos) with IRL's γ = 1.
* `LossIBP` (`LossIBP`): normalized is ‖g‖_r^r·s^r, s the input RMS
  (loss units); paper is the raw ‖∇x L‖_r^r with β = 0.03.
* `PredictionIBP` (`PredictionIBP`): normalized is J_p·g times
  s²/(d_p·RMS(p)), the relative output change (input RMS s, output RMS);
  paper is the raw ‖J_p·g‖_r^r with β = 1.
* `TangentProp` (`TangentBP`): normalized divides R by the outputs' power
  E‖p‖_r^r (held constant); paper is the raw R with β = 0.01.
* `FastTangentProp` (`FastTangentBP`): R is already in squared loss units,
  so only the preset's default weight changes (paper: β = 0.0003).
* `NoiseRegularization` (`NoiseRegularized`): normalized counts ε in input
  RMS units and divides ‖h − h̃‖² by the outputs' spread E‖h − h̄‖² (kept in
  the gradient); paper is ε in input units and the raw ‖h − h̃‖².
* `Jacobian` (`JacobianRegularized`): normalized is ‖J‖²_F·RMS(x)²
  divided by the outputs' spread E‖a − ā‖²; paper is the raw ‖∂a/∂x‖²_F.

The README's "Vocabulary" section has the same as a table.

Not a scale choice, so not `scale=`: a distance's `relative=True`
(`SquaredL2`, `L2Cosine`) is a different distance, ‖u−v‖² over the pair's
mean energy ½(‖u‖² + ‖v‖²) per example;
`l2_scale` is the divisor a penalty hands its distance (`Distance.distance(u,
v, l2_scale=...)`), the hook through which `scale="normalized"` acts.
`Reverberation(normalize=True)` rescales the reverberant signal to the
input's RMS, part of the perturbation, not a term's scale.

The other concepts, one name each:

* a term's weight (λ; each docstring gives the paper's symbol):
  `weight=`, not `gamma=`, `lam=` or a penalty's `beta=`;
* a layer's own weight inside a term (IRL's γ_ℓ): `layer_weight=`, and
  its variable `layer_weight_<layer>` (0.2.0: `gamma_<layer>`); `IRLHyperModel`
  searches IRL's weight as `"weight"` (0.2.0: `"gamma"`);
* the clean / perturbed loss weights of `InvariantModel`: `alpha=` /
  `beta=` (so docstrings write λ, not α, for a penalty's weight);
* a row or column of a paper's table: `preset=` (`IRL`,
  `SpatialInvariance`), not `mode=`;
* what an adversarial search maximises: `objective=` (`"loss"`, `"kl"`,
  …), not `rank_by=` or `search=`;
* the kind of search: `attack=`, not `kind=`;
* what a penalty measures: `distance=`, not `divergence=`;
* the normalized or the paper's scale: `scale=`, not `normalize=` or
  `paper_scale=`.

Documented, left as they are (renaming them would change the tap names of
saved models or the engine's signature, for a small gain): `"logits"` names
the model-output tap even for a softmax model (the penalties read the output
through its logits view, `keras_invariance.graph.outputs`); `batching=` of
`InvariantModel` keeps its four values, three batch layouts plus
`"clean_statistics"`, a BatchNorm policy (`keras_invariance.graph.batchnorm`);
`compute_objective` (the training objective) and Keras Tuner's `objective=`
(the metric a tuner optimises) are other libraries' or other nouns' meanings,
so `objective=` as an argument of this package means only what a search
maximises; `SpatialInvariance(scale=)` and the spatial perturbations'
`scale=` are a zoom range, not this vocabulary's scale; `InvariantAutoencoder(mode=)`
says what the data hold (`"pairs"` or a `"target"`), not a paper's preset. Renamed variables
and tuner names have no shim: saved models load their variables by
position, and a tuner's search space is rebuilt by each trial.
"""

from keras_invariance.utils import deprecation

#: The values of `scale=`.
NORMALIZED = "normalized"
PAPER = "paper"
SCALES = (NORMALIZED, PAPER)


def check_scale(scale):
    """Returns `scale` if it is one of `SCALES`.

    Example:

    >>> check_scale("paper")
    'paper'

    Args:
        scale: The value of a `scale=` argument.

    Returns:
        `scale`.

    Raises:
        ValueError: For any other value.
    """
    if scale not in SCALES:
        raise ValueError(
            f"`scale` must be one of {SCALES}; received {scale!r} "
            "(`normalize=True` is now `scale='normalized'`, "
            "`paper_scale=True` is `scale='paper'`)."
        )
    return scale


def scale_argument(kwargs, scale, owner, who=None, old="normalize"):
    """`scale=` of a term or preset, accepting its deprecated spelling.

    Example:

    >>> import warnings
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore")
    ...     scale_argument({"normalize": False}, NORMALIZED, "ActivationDistance")
    'paper'

    Args:
        kwargs: The caller's `**kwargs` (the old keyword is popped).
        scale: The value the caller received for `scale`.
        owner: The callable that defines the argument (a row of
            `keras_invariance.utils.deprecation.SHIMS`).
        who: The name the user called, for the warning.
        old: The deprecated keyword, `"normalize"` (penalties) or
            `"paper_scale"` (presets).

    Returns:
        The checked scale.

    Raises:
        TypeError: For both `scale=` (not the default) and the old keyword.
        ValueError: For an unknown scale.
    """
    scale = deprecation.renamed(
        kwargs, old, "scale", scale, owner, who=who, default=NORMALIZED
    )
    return check_scale(scale)
