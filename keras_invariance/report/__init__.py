"""The robustness report: every method side by side, on one model and data.

`keras-invariance report` (or `run_report(ReportConfig(...))`) trains a set
of methods (`METHODS`; by default one per paper family, `DEFAULT_METHODS`)
on copies of one base model, each with its preset's default weights, and
evaluates them all the same way: clean accuracy, accuracy along a Gaussian
noise curve, under FGSM and PGD (ℓ∞) over a list of ε, under random,
worst-of-k and grid spatial transforms, per-layer activation distances and
Jacobian norms, and the training-step time as a ratio to plain training. It
writes `results.json`, PNG figures and a self-contained `report.html`.

* `methods`: the registry of methods (key → preset call);
* `config`: `ReportConfig`, the run's settings and dataset defaults;
* `data`: digits / TFDS data, the default CNN, the user's `.keras` model;
* `evaluate`: every metric of one trained method (`Evaluator`);
* `runner`: training, timing, and the run (`run_report`);
* `writer`, `figures`: the table, `results.json`, `report.html`, PNGs;
* `progress`: the per-epoch progress line and the step timer.
"""

from keras_invariance.report.config import ReportConfig
from keras_invariance.report.data import ReportError
from keras_invariance.report.methods import DEFAULT_METHODS
from keras_invariance.report.methods import METHODS
from keras_invariance.report.methods import Method
from keras_invariance.report.runner import run_report
