"""The normalized scale: each term divided by a statistic of its batch.

Every term's default weight lives on one scale: the raw term divided by a
statistic of the clean batch that carries the term's units (the energy of
the compared activations, the inputs' RMS). The statistic is a mean over
the *global* batch (every replica's rows, `numerics.global_mean`), so N
devices divide by the number one device would. Most statistics are held
constant in the gradient, so the gradient is the raw term's, divided by a
number. Three terms keep their statistic in the gradient, because held
constant their cheapest minimiser is a network that stops representing x:
IRL divides by the energy (`batch_energy_in_gradient`), noise
regularization and the Jacobian by the outputs' spread (`batch_spread`);
each function says what was measured.

Per batch, not per example: a per-example ratio ‖f(x) − f(x̃)‖² / ‖f(x)‖²
explodes where ‖f(x)‖ is small, which is common for one or a few outputs (a
regression near 0, a binary logit near the boundary). Per step, not
calibrated once: activations grow during training, so a scale fixed at the
first step drifts from the term it divides. The measurements behind both
choices are in the README ("Weights and scales", design notes).

Example:

>>> import numpy as np
>>> float(batch_energy(np.array([[3.0, 4.0], [0.0, 0.0]])))
12.5
"""

from keras import ops

from keras_invariance.ops import numerics

#: Keeps a scale positive for an all-zero batch (dead units, blank inputs).
FLOOR = 1e-12


def batch_power(t, order=2, constant=True):
    """E_i ‖t_i‖_r^r over the global batch (r ∈ {1, 2}), floored.

    Held constant in the gradient unless `constant=False`.

    Example:

    >>> import numpy as np
    >>> float(batch_power(np.array([[1.0, -1.0], [2.0, 0.0]]), order=1))
    2.0
    """
    values = numerics.power_norm(t, order)
    if constant:
        values = ops.stop_gradient(values)
    return ops.maximum(numerics.global_mean(values), FLOOR)


def batch_energy(t):
    """E_i ‖t_i‖² over the global batch, constant, floored (see the module)."""
    return batch_power(t, 2)


def batch_energy_in_gradient(t):
    """E_i ‖t_i‖² over the global batch, *in* the gradient, floored.

    IRL's scale (`keras_invariance.penalties.ActivationDistance`): the
    relative mismatch ‖u − v‖² / E‖u‖² of a tapped layer is then unchanged
    by scaling that layer, so shrinking the representation no longer lowers
    the term. Held constant, the gradient was the raw distance's, whose
    cheapest descent on a ReLU layer is to shrink or switch off its units (a
    dead unit has distance 0): IRL-C on a GRU token model (taps from its
    ReLU layer up) fed that contraction until every unit was off, at chance
    accuracy (0.24 against plain's 0.99). Over seven model families × three
    seeds (`recipes/default_weights.py`) the energy in the gradient had no
    collapse, cost 0.36 / 0.60 points of clean accuracy on average for IRL /
    IRL-C (constant: 0.39 / 4.05), lowered the distance further (mean target
    ratio 0.50 for both, constant 0.64 / 0.60) and kept the noisy-accuracy
    gain (+6.7 / +6.2 points over plain; constant +6.6 / +3.1). The centred
    `batch_spread` cost more (1.2 / 1.4 points on average, 3.1 on the
    GroupNorm CNN). Uncentred, the energy can also be raised by a constant
    offset, which a softmax ignores; measured on the digits MLP, the offset's
    share of the logits' energy rose to 7–8 % (plain training: 1 %), so the
    term cannot be lowered much that way.

    Example:

    >>> import numpy as np
    >>> float(batch_energy_in_gradient(np.array([[3.0, 4.0], [0.0, 0.0]])))
    12.5
    """
    return batch_power(t, 2, constant=False)


def batch_spread(t):
    """E_i ‖t_i − t̄‖² over the global batch, *in* the gradient, floored.

    The scale of the relative-sensitivity terms (noise regularization, the
    Jacobian): noise over signal, ‖f(x) − f(x̃)‖² / E‖f − f̄‖². Unlike
    `batch_energy` it is centred and differentiable, because those terms
    have no other force against the trivial minimiser, a network whose
    outputs no longer depend on x: with the energy held constant, shrinking
    every output towards the bias lowers the term, and it did, to chance
    (noise regularization on the 1-D CNN: 0.09 clean accuracy against
    plain's 0.73; on the bag-of-embeddings token model 0.32 against 0.82).
    Divided by the spread it keeps in the gradient, that minimiser costs
    the most (t̄ is the global batch's mean row, `numerics.global_mean`), so
    the term lowers sensitivity relative to the signal and the Jacobian's
    target ratio fell from 0.84 to 0.64 on the digits MLP at the same weight.

    Example:

    >>> import numpy as np
    >>> float(batch_spread(np.array([[3.0, 4.0], [1.0, 0.0]])))
    5.0
    """
    rows = numerics.flatten_rows(t)
    centred = rows - numerics.global_mean(rows, axis=0)
    values = ops.sum(ops.square(centred), axis=-1)
    return ops.maximum(numerics.global_mean(values), FLOOR)


def output_rms(p):
    """The outputs' RMS over the global batch and every unit, constant.

    Example:

    >>> import numpy as np
    >>> round(float(output_rms(np.array([[3.0, 4.0], [0.0, 0.0]]))), 4)
    2.5
    """
    return input_rms(p)


def input_rms(x):
    """The inputs' RMS over the global batch and every feature, constant.

    The inputs' own unit: a derivative with respect to x times this is in
    units of "a change of the inputs' typical size". A list of inputs (a
    multi-input model) counts every float feature.

    Example:

    >>> import numpy as np
    >>> round(float(input_rms(np.array([[3.0, 4.0], [0.0, 0.0]]))), 4)
    2.5
    """
    rows = ops.stop_gradient(numerics.flatten_rows(x))
    mean_square = numerics.global_mean(ops.mean(ops.square(rows), axis=-1))
    return ops.sqrt(ops.maximum(mean_square, FLOOR))
