"""Integrations with tools around `fit()`: optional at import time.

* `callbacks`: Keras callbacks (noisy validation, weight schedules, …).
* `tuning`: Keras Tuner search spaces over α, β, γ, λ.
* `report`, `cli`: the robustness report and the `keras-invariance` command.

These import the engine, presets and evaluation; nothing in the engine
imports them.
"""
