"""Fresh base models per seed, a method built on one, the report's compile."""

import dataclasses

import keras

from keras_invariance.integrations.report import data as data_lib
from keras_invariance.integrations.terms import assign_terms


class BaseModels:
    """Fresh copies of the base model; the report CNN's depend on the seed.

    Example:

    >>> from keras_invariance.integrations.report.config import ReportConfig
    >>> bases = BaseModels(ReportConfig().resolved(), np.zeros((2, 20, 20, 1)), 10)
    >>> a, b = bases.make(seed=0), bases.make(seed=0)
    >>> all((u == v).all() for u, v in zip(a.get_weights(), b.get_weights()))
    True

    Args:
        config: The resolved `ReportConfig` (its `model`: a user's file).
        x: Training inputs (their shape is the CNN's input).
        num_classes: Logits of the CNN.
    """

    def __init__(self, config, x, num_classes):
        self.config = config
        self.x = x
        self.num_classes = num_classes
        if config.model is None:
            self.source = "the report CNN"
        else:
            self.source = f"--model {config.model}"

    def make(self, seed=None):
        if self.config.model is None:
            keras.utils.set_random_seed(self.config.seed if seed is None else seed)
            return data_lib.default_model(self.x.shape[1:], self.num_classes)
        # A user's file is the starting point of every seed (it may be
        # pretrained); the seed still changes batches and training noise.
        return data_lib.load_user_model(self.config.model)


def compile_model(model, config):
    """Compiles a report model: Adam, sparse cross-entropy on logits.

    Example:

    >>> from keras_invariance.integrations.report.config import ReportConfig
    >>> net = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    >>> compile_model(net, ReportConfig().resolved()).optimizer.name
    'adam'
    """
    model.compile(
        optimizer=keras.optimizers.Adam(config.learning_rate),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    return model


def build_method(method, bases, config, seed, weights=None):
    """`method` on a fresh base for `seed`, with `weights` (tuned) assigned.

    Example:

    >>> import numpy as np
    >>> from keras_invariance.integrations.report.config import ReportConfig
    >>> from keras_invariance.integrations.report.methods import METHODS
    >>> config = ReportConfig(quick=True).resolved()
    >>> bases = BaseModels(config, np.zeros((2, 8, 8, 1), "float32"), 10)
    >>> model = build_method(METHODS["vat"], bases, config, seed=1,
    ...                      weights={"vat.weight": 0.5})
    >>> float(model.penalties[0].weight)
    0.5

    Returns:
        An uncompiled `InvariantModel`.
    """
    keras.utils.set_random_seed(seed)
    model = method.build(bases.make(seed), dataclasses.replace(config, seed=seed))
    if weights:
        assign_terms(model, weights)
    return model
