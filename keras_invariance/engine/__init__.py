"""The engine: `InvariantModel` and the one training step every method shares.

* `model`: `InvariantModel` (the step: run the passes, assemble the objective,
  scale it for distribution and loss scaling, apply it).
* `step`: the step's two halves, `run_passes` (x̃ drawn once, by
  `draw_perturbation`; tapes under `contextlib.ExitStack`) and
  `assemble_objective`.
* `context`: the `StepContext` a penalty reads (clean pass, x̃, taps, tapes).
* `clean_pass`, `output_losses`, `objective_checks`: the clean and perturbed
  losses and the checks on how a method is configured.
* `term_metrics`, `finite_guard`: per-term metrics and the non-finite guard.
* `distribution`, `wrapping`, `one_batch`: replicas and workers, wrapping a
  user's model, and one batch outside `fit()`.

The engine may import everything below it (`graph`, `ops`, `utils`,
`penalties`, `perturbations`, `distances`) but never `presets`,
`evaluation` or `integrations` (tests/test_architecture.py).
"""

# Internal: import the modules themselves; nothing is re-exported here.
__all__ = []
