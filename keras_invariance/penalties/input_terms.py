"""The `embedding_layer=` split and the float-input check of gradient terms."""

from keras_invariance.graph import embedding as embedding_lib
from keras_invariance.utils import validation


class EmbeddingInputs:
    """Mixin for a penalty that differentiates or perturbs its inputs.

    Jacobian, noise regularization, VAT, IBP and the adversarial-loss
    penalty act on the model's inputs, which must then be float: token ids
    have no gradient. Each takes `embedding_layer=`, the name of an
    Embedding layer to act at instead (the model is split there,
    `keras_invariance.graph.embedding`). This mixin resolves it once, in
    `bind`:

    * with `embedding_layer`, `self._split` is the split model (`embed`,
      `tail`, `forward_watched`), and the term differentiates through the
      split model's own pass, so it no longer needs the engine's input tape
      (`requires_input_gradient` becomes `False`);
    * without, `self._split` is `None`, and a Functional or Sequential
      model whose inputs are all integers fails at construction; a
      subclassed one fails at the first step through `check_float_inputs`.
      Both messages end with `validation.EMBEDDING_HINT` (pass
      `embedding_layer=`).

    The mixin goes before `Penalty` in the bases; the penalty calls
    `init_embedding(embedding_layer)` in its constructor and `super().bind`
    in its own `bind`, if it has one. `embedding_layer` is added to the
    config.

    Example:

    >>> import keras
    >>> from keras_invariance.penalties.base import Penalty
    >>> class InputNorm(EmbeddingInputs, Penalty):
    ...     def __init__(self, embedding_layer=None, **kwargs):
    ...         super().__init__(**kwargs)
    ...         self.init_embedding(embedding_layer)
    >>> ids = keras.Input((3,), dtype="int32")
    >>> model = keras.Model(ids, keras.layers.Embedding(9, 2, name="emb")(ids))
    >>> InputNorm(name="input_norm").bind(model)
    Traceback (most recent call last):
    ...
    ValueError: InputNorm needs float inputs but received int32 inputs. ...
    >>> term = InputNorm(embedding_layer="emb", name="input_norm")
    >>> term.bind(model)
    >>> term.requires_input_gradient
    False
    """

    def init_embedding(self, embedding_layer):
        """Keeps `embedding_layer` (a layer name or `None`) until `bind`."""
        self.embedding_layer = embedding_layer
        self._split = None

    def bind(self, model, subclassed=False):
        super().bind(model, subclassed)
        self._split = embedding_lib.maybe_split(
            model, self.embedding_layer, subclassed
        )
        if self._split is None:
            validation.check_model_has_float_inputs(
                model, subclassed, type(self).__name__
            )
        else:
            # Differentiated through the split model's own pass.
            self.requires_input_gradient = False

    def check_float_inputs(self, x):
        """Raises unless `x` has a float input (the step's check).

        Args:
            x: The tensor (or structure) the term differentiates or perturbs.

        Raises:
            ValueError: For integer inputs, saying to pass `embedding_layer=`.
        """
        validation.check_float(x, type(self).__name__, validation.EMBEDDING_HINT)

    def get_config(self):
        config = super().get_config()
        config["embedding_layer"] = self.embedding_layer
        return config
