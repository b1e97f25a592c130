"""Integrations with tools around `fit()`: optional at import time.

* `callbacks`: Keras callbacks (noisy validation, weight schedules, …).
* `terms`: a model's term weights by name (read, print, assign).
* `tuning`: Keras Tuner search spaces over α, β, γ, λ (the `tuner` extra:
  Keras Tuner and TensorBoard).
* `report`, `cli`: the robustness report and the `keras-invariance` command
  (the `report` extra: the tuner, scikit-learn's digits and matplotlib).

These import the engine, presets and evaluation; nothing in the engine
imports them. Each is imported on first use (`ki.integrations.tuning`), so
`import keras_invariance` needs none of their dependencies; a missing one
raises an ImportError naming the extra that installs it.
"""

from keras_invariance.utils.deprecated_names import moved_names

__all__ = ["callbacks", "cli", "report", "terms", "tuning"]

__getattr__ = moved_names(
    __name__, {}, aliases={name: f"{__name__}.{name}" for name in __all__}
)


def __dir__():
    return sorted(set(globals()) | set(__all__))
