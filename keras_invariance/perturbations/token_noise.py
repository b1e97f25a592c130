"""Token noise for language models: unigram and blank replacement.

Each token of a batch of integer ids is replaced, independently with
probability `p`, by a draw from a unigram distribution (`UnigramNoise`) or by a
placeholder id (`BlankNoise`), as in the IRL paper's language modeling
experiments. Ids listed in `pad_id` (padding, and any other id that must stay,
such as BOS/EOS) are never replaced.

Token noise perturbs discrete inputs, so gradient-based penalties cannot
differentiate through it; use it for the data-augmentation and distance
(IRL) terms, or perturb an embedding layer's output for gradient penalties.
"""

import keras
from keras import ops
from keras import tree
import numpy as np

from keras_invariance.graph import structures
from keras_invariance.ops import random_ops
from keras_invariance.perturbations.base import Perturbation
from keras_invariance.utils import validation
from keras_invariance.utils.api_export import keras_invariance_export
from keras_invariance.utils.hyperparameters import add_hyperparameter
from keras_invariance.utils.hyperparameters import check_non_negative
from keras_invariance.utils.hyperparameters import value_of


def _check_probability(value):
    value = check_non_negative("p", value)
    if value > 1:
        raise ValueError(
            f"`p` is a replacement probability and must be in [0, 1]; "
            f"received {value}."
        )
    return value


def _check_id(name, value):
    if isinstance(value, (bool, np.bool_)) or not isinstance(
        value, (int, np.integer)
    ) or value < 0:
        raise ValueError(
            f"`{name}` must be a non-negative integer token id; received "
            f"{value!r}."
        )
    return int(value)


def _protected_ids(pad_id):
    if pad_id is None:
        return ()
    if isinstance(pad_id, (list, tuple, np.ndarray)):
        return tuple(_check_id("pad_id", i) for i in pad_id)
    return (_check_id("pad_id", pad_id),)


class _TokenNoise(Perturbation):
    """Shared plumbing: `p`, protected ids, dtype checks, draw-then-apply."""

    requires_float_inputs = False

    def __init__(self, p=0.2, pad_id=None, seed=None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        _check_probability(p)
        self.p = add_hyperparameter(self, "p", p)
        self._protected = _protected_ids(pad_id)
        # Keep the user's form (int or list) so the config reads naturally.
        self.pad_id = (
            list(self._protected)
            if isinstance(pad_id, (list, tuple, np.ndarray))
            else (None if pad_id is None else int(pad_id))
        )

    def _check_tokens(self, x):
        x = ops.convert_to_tensor(x)
        dtype = keras.backend.standardize_dtype(x.dtype)
        if "int" not in dtype:
            raise ValueError(
                f"{type(self).__name__}: token noise needs integer token ids; "
                f"received dtype {dtype}. For float inputs use GaussianNoise "
                "(or another float perturbation), or apply token noise before "
                "the embedding lookup; to regularize a token model with a "
                "gradient penalty, perturb an embedding layer's output."
            )
        return x

    def _replacement_mask(self, x):
        u = random_ops.uniform(ops.shape(x), seed=self.seed_generator)
        # `u` is in [0, 1), so p = 0 replaces nothing and p = 1 everything.
        replace = ops.less(u, ops.cast(self.p, "float32"))
        for token in self._protected:
            replace = ops.logical_and(replace, ops.not_equal(x, token))
        return replace

    def _replacements(self, x):
        raise NotImplementedError

    def sample_parameters(self, x):
        """Draws which tokens to replace and by what.

        Args:
            x: Integer token ids, any shape.

        Returns:
            A dict with a boolean `"replace"` mask and integer `"tokens"`,
            both shaped like `x`, for `apply`.
        """
        x = self._check_tokens(x)
        return {
            "replace": self._replacement_mask(x),
            "tokens": self._replacements(x),
        }

    def apply(self, x, parameters):
        """Applies drawn `parameters` (from `sample_parameters`) to `x`.

        Args:
            x: Integer token ids.
            parameters: The dict returned by `sample_parameters`.

        Returns:
            The noised ids, with `x`'s shape and dtype.
        """
        x = self._check_tokens(x)
        tokens = ops.cast(parameters["tokens"], x.dtype)
        return ops.where(parameters["replace"], tokens, x)

    def perturb(self, x, context=None):
        if structures.is_single(x):
            return self.apply(x, self.sample_parameters(x))
        # Several inputs: the token-id inputs get noise, float inputs none.
        if not any(not validation.is_float(t) for t in tree.flatten(x)):
            self._check_tokens(tree.flatten(x)[0])
        return tree.map_structure(
            lambda t: t if validation.is_float(t) else self.apply(t, self.sample_parameters(t)),
            x,
        )

    def compute_output_spec(self, inputs):
        return keras.KerasTensor(inputs.shape, dtype=inputs.dtype)

    def get_config(self):
        config = super().get_config()
        config.update({"p": value_of(self.p), "pad_id": self.pad_id})
        return config


@keras_invariance_export("keras_invariance.perturbations.UnigramNoise")
class UnigramNoise(_TokenNoise):
    """Replaces each token, with probability `p`, by a unigram draw.

    The replacement is drawn from `unigram` (counts or probabilities over the
    vocabulary, normalized here) or, with `vocabulary_size`, uniformly over
    `[0, vocabulary_size)`. Ids in `pad_id` are never replaced and are never
    drawn as replacements (their probability is set to 0). `p` is a
    non-trainable variable: `noise.p.assign(0.)` switches the noise off
    without retracing.

    Example:

    >>> import numpy as np
    >>> noise = UnigramNoise(unigram=[0, 5, 3, 2], p=0.2, pad_id=0, seed=0)
    >>> x = np.array([[1, 2, 3, 0, 0]], "int32")
    >>> y = noise.perturb(x)
    >>> y.dtype.name, tuple(y.shape)
    ('int32', (1, 5))

    Args:
        unigram: List or 1-D array of non-negative counts or probabilities,
            one per token id. Exactly one of `unigram` and `vocabulary_size`.
        vocabulary_size: Draw replacements uniformly from
            `[0, vocabulary_size)` instead.
        p: Replacement probability per token (paper: 0.2).
        pad_id: An id, or a list of ids, that are never replaced nor drawn
            (padding, BOS/EOS…). `None` protects nothing.
        seed: Optional int seed.
        **kwargs: Keras `Layer` arguments such as `name`.

    Raises:
        ValueError: for a bad distribution or `p`, and (when called) for
            non-integer inputs.

    Reference:
        Salazar et al., "Invariant Representation Learning for Robust Deep Networks" (2018),
        §3 "Language modeling", unigram noise.
    """

    def __init__(
        self,
        unigram=None,
        vocabulary_size=None,
        p=0.2,
        pad_id=None,
        seed=None,
        **kwargs,
    ):
        super().__init__(p=p, pad_id=pad_id, seed=seed, **kwargs)
        if (unigram is None) == (vocabulary_size is None):
            raise ValueError(
                "Pass exactly one of `unigram` (counts or probabilities per "
                "token id) and `vocabulary_size` (uniform replacements)."
            )
        if unigram is not None:
            weights = np.asarray(unigram, dtype="float64")
            if weights.ndim != 1 or weights.size == 0:
                raise ValueError(
                    "`unigram` must be a non-empty 1-D list of counts or "
                    f"probabilities; received shape {weights.shape}."
                )
            if not np.all(np.isfinite(weights)) or np.any(weights < 0):
                raise ValueError(
                    "`unigram` entries must be finite and non-negative."
                )
            self.unigram = weights.tolist()
            self.vocabulary_size = None
        else:
            vocabulary_size = _check_id("vocabulary_size", vocabulary_size)
            if vocabulary_size < 1:
                raise ValueError("`vocabulary_size` must be at least 1.")
            weights = np.ones(vocabulary_size)
            self.unigram = None
            self.vocabulary_size = vocabulary_size
        for token in self._protected:
            if token < weights.size:
                weights[token] = 0.0
        total = weights.sum()
        if not total > 0:
            raise ValueError(
                "The unigram distribution has no mass outside `pad_id`; "
                "nothing could be drawn as a replacement."
            )
        cdf = np.cumsum(weights / total)
        # Float32 rounding could leave the last cdf entry below a uniform
        # draw; pin everything from the last drawable id on to exactly 1 so
        # the inverse-cdf lookup never returns an out-of-range or zero-mass id.
        cdf[np.flatnonzero(weights)[-1]:] = 1.0
        self._cdf = cdf.astype("float32")

    def _replacements(self, x):
        u = random_ops.uniform(ops.shape(x), seed=self.seed_generator)
        # Inverse-cdf sampling: O(n log V), unlike a Gumbel-argmax
        # categorical draw, which materializes n × V logits under XLA.
        cdf = ops.convert_to_tensor(self._cdf)
        tokens = ops.searchsorted(cdf, ops.reshape(u, (-1,)), side="right")
        return ops.reshape(tokens, ops.shape(x))

    def get_config(self):
        config = super().get_config()
        config.update(
            {"unigram": self.unigram, "vocabulary_size": self.vocabulary_size}
        )
        return config


@keras_invariance_export("keras_invariance.perturbations.BlankNoise")
class BlankNoise(_TokenNoise):
    """Replaces each token, with probability `p`, by a placeholder `blank_id`.

    The paper's "blank" noise replaces words by a placeholder token "__";
    reserve an id for it in the vocabulary (and in the embedding). Ids in
    `pad_id` are never replaced. `p` is a non-trainable variable:
    `noise.p.assign(0.)` switches the noise off without retracing.

    Example:

    >>> import numpy as np
    >>> noise = BlankNoise(blank_id=1, p=1.0, pad_id=0)
    >>> np.asarray(noise.perturb(np.array([[5, 6, 0]])))
    array([[1, 1, 0]])

    Args:
        blank_id: The placeholder id that replaces tokens.
        p: Replacement probability per token (paper: 0.2).
        pad_id: An id, or a list of ids, that are never replaced.
            `None` protects nothing.
        seed: Optional int seed.
        **kwargs: Keras `Layer` arguments such as `name`.

    Raises:
        ValueError: for a bad `blank_id` or `p`, and (when called) for
            non-integer inputs.

    Reference:
        Salazar et al., "Invariant Representation Learning for Robust Deep Networks" (2018),
        §3 "Language modeling", blank noise.
    """

    def __init__(self, blank_id, p=0.2, pad_id=None, seed=None, **kwargs):
        super().__init__(p=p, pad_id=pad_id, seed=seed, **kwargs)
        self.blank_id = _check_id("blank_id", blank_id)

    def _replacements(self, x):
        return ops.full(ops.shape(x), self.blank_id, dtype=x.dtype)

    def get_config(self):
        config = super().get_config()
        config.update({"blank_id": self.blank_id})
        return config
