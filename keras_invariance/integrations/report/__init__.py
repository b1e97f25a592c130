"""The robustness report: every method side by side, on one model and data.

`keras-invariance report` (or `run_report(ReportConfig(...))`) trains a set
of methods (`METHODS`; by default one per paper family and spatial D.A.,
`DEFAULT_METHODS`) on copies of one base model, once per seed (3 by
default), each with its preset's default weights or, in the fair mode
(`tune=BUDGET`), with weights chosen on a validation split under one
Keras Tuner budget. It evaluates them all the same way: clean accuracy,
accuracy along a Gaussian noise curve, under FGSM and PGD (ℓ∞) over a list
of ε, under random, worst-of-k and grid spatial transforms, per-layer
activation distances and Jacobian norms, and the training-step time as a
ratio to plain training. Every number is a mean over seeds with a 95 %
interval; a summary says, per threat, which methods are best within the
uncertainty and at what cost. It writes `results.json`, PNG figures and a
self-contained `report.html`.

* `methods`: the registry of methods (key → preset call);
* `config`: `ReportConfig`, the run's settings and dataset defaults;
* `data`: digits (upscaled) / TFDS data, the default CNN, the user's model;
* `evaluate`: every metric of one trained method (`Evaluator`);
* `training`: fresh base models per seed, a method built on one;
* `runner`: training over seeds, timing, and the run (`run_report`);
* `stats`, `aggregate`: intervals over seeds, the paired t-test, the best cell;
* `summary`: the per-threat recommendation and the Pareto front;
* `tune`: the fair mode;
* `writer`, `page`, `figures`: the table, `results.json`, `report.html`,
  PNGs;
* `progress`: the per-epoch progress line and the step timer.
"""

from keras_invariance.integrations.report.config import ReportConfig
from keras_invariance.integrations.report.data import ReportError
from keras_invariance.integrations.report.methods import DEFAULT_METHODS
from keras_invariance.integrations.report.methods import METHODS
from keras_invariance.integrations.report.methods import Method
from keras_invariance.integrations.report.runner import run_report

__all__ = [
    "ReportConfig",
    "ReportError",
    "DEFAULT_METHODS",
    "METHODS",
    "Method",
    "run_report",
]
