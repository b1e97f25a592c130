"""The seed and seed-state handling shared by penalties and perturbations."""

import keras

from keras_invariance.ops import random_ops


class SeedState:
    """Mixin for a Keras layer that draws randomness from its own seed.

    `Penalty` and `Perturbation` both inherit it. A term that draws calls
    `init_seed(seed)` in its constructor: the layer then keeps `seed` (an
    int or `None`) and a `keras.random.SeedGenerator` `seed_generator` to
    pass to `keras_invariance.ops.random_ops`, `seed` appears in
    `get_config()`, and the generator's state is saved with the layer's
    variables (Keras saves weights but not seed states, and keyed draws need
    the same seed after `load_model`, `load_weights` and `BackupAndRestore`).

    The mixin goes before `keras.layers.Layer` in the bases, so its
    `get_config` and `save_own_variables` extend the layer's.

    Example:

    >>> class Noisy(SeedState, keras.layers.Layer):
    ...     def __init__(self, seed=None, **kwargs):
    ...         super().__init__(**kwargs)
    ...         self.init_seed(seed)
    >>> Noisy(seed=3).get_config()["seed"]
    3
    """

    #: Whether `seed` belongs in the config (set by `init_seed`).
    _has_seed = False

    def init_seed(self, seed, generator=True):
        """Keeps `seed` and, unless `generator=False`, its `SeedGenerator`.

        Args:
            seed: Optional int seed.
            generator: Whether to create `seed_generator` now. A term that
                draws only in some configurations (`TangentProp` with
                projections) passes `False` otherwise, so that it neither
                consumes a global seed nor adds a seed state to its file.
        """
        self._has_seed = True
        self.seed = seed
        if generator:
            self.seed_generator = keras.random.SeedGenerator(seed)

    def save_own_variables(self, store):
        super().save_own_variables(store)
        # Keras does not save seed states; keyed draws need the same seed
        # after load_model, load_weights and BackupAndRestore.
        random_ops.save_seed_states(self, store)

    def load_own_variables(self, store):
        super().load_own_variables(random_ops.load_seed_states(self, store))

    def get_config(self):
        config = super().get_config()
        if self._has_seed:
            config["seed"] = self.seed
        return config
