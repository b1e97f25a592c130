"""Every metric, curve and diagnostic of one trained method.

All methods are evaluated on one `Evaluator`: a copy of the base network
that receives each method's trained weights in turn. So every compiled
evaluation (predictions, the FGSM and PGD searches, the spatial warps, the
per-layer probes) is traced once per report, not once per method, and
every method meets exactly the same noisy inputs, attack starts and
projections.
"""

import math
import time

import numpy as np

from keras_invariance import spatial
from keras_invariance.evaluation import accuracy
from keras_invariance.evaluation import adversarial
from keras_invariance.evaluation import representation
from keras_invariance.evaluation import spatial as spatial_eval

#: Pixel range the adversarial inputs are clipped to (the report's data are
#: float pixels in [0, 1]).
VALUE_RANGE = (0.0, 1.0)


class Evaluator:
    """Evaluates trained weights on the report's test set.

    Example:

    >>> import keras
    >>> from keras_invariance.integrations.report.config import ReportConfig
    >>> net = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Flatten(),
    ...                         keras.layers.Dense(3, name="out")])
    >>> x = np.random.default_rng(0).random((6, 8, 8, 1)).astype("float32")
    >>> config = ReportConfig(quick=True).resolved()
    >>> result = Evaluator(net, x, np.array([0, 1, 2, 0, 1, 2]), config).evaluate(net)
    >>> sorted(result)
    ['curves', 'diagnostics', 'evaluation_seconds', 'metrics']

    Args:
        network: A copy of the base model (its weights are overwritten).
        x: Test inputs (float pixels in [0, 1]).
        y: Test labels.
        config: The resolved `ReportConfig`.
    """

    def __init__(self, network, x, y, config):
        self.network = network
        self.x = x
        self.y = np.asarray(y)
        self.config = config
        self.images = x.ndim == 4
        n = min(config.diagnostics_size, len(x))
        self.x_diag = x[:n]
        self.x_diag_noisy = accuracy.add_gaussian_noise(self.x_diag, config.noise,
                                                        seed=config.seed + 2000)
        self.layers = representation.default_layers(network)

    def evaluate(self, trained):
        """Metrics, curves and diagnostics of `trained`'s weights.

        Args:
            trained: The trained base model (same architecture as the
                evaluator's network).

        Returns:
            `{"metrics": {name: float}, "curves": {name: {x-name: [...],
            "accuracy": [...]}}, "diagnostics": {...}}`.
        """
        self.network.set_weights(trained.get_weights())
        net, x, y, c = self.network, self.x, self.y, self.config
        metrics, curves, seconds = {}, {}, {}
        clock = [time.perf_counter()]

        def lap(name):
            now = time.perf_counter()
            seconds[name] = now - clock[0]
            clock[0] = now

        metrics["clean_accuracy"] = accuracy.clean_accuracy(net, x, y)
        # σ = 0 is the clean accuracy (`noise_curve` would recompute it).
        sigmas = [0.0] + list(c.noise_levels)
        noise = [metrics["clean_accuracy"]] + accuracy.noise_curve(
            net, x, y, sigmas[1:], draws=c.noise_draws, seed=c.seed + 1000)
        curves["noise"] = {"sigma": sigmas, "accuracy": noise}
        for sigma, acc in zip(sigmas[1:], noise[1:]):
            metrics[f"noise_accuracy_sigma_{sigma:g}"] = acc
        lap("clean_and_noise")
        epsilons = [0.0] + list(c.epsilons)
        for attack in ("fgsm", "pgd"):
            # At ε = 0 robust accuracy is the clean accuracy (x̃ = x).
            curve = [metrics["clean_accuracy"]] + adversarial.adversarial_curve(
                net, x, y, epsilons[1:], attack=attack, norm="inf", steps=c.pgd_steps,
                value_range=VALUE_RANGE, seed=c.seed + 3000,
            )
            curves[f"{attack}_linf"] = {"epsilon": epsilons, "accuracy": curve}
            for eps, acc in zip(epsilons[1:], curve[1:]):
                metrics[f"{attack}_accuracy_eps_{eps:g}"] = acc
            lap(attack)
        if self.images:
            metrics.update(self._spatial(net, x, y))
            lap("spatial")
        diagnostics = self._diagnostics(net)
        lap("diagnostics")
        metrics["jacobian_norm_logits"] = diagnostics["jacobian_norm"][-1]
        metrics["activation_l2_logits"] = diagnostics["activation_l2"][-1]
        metrics["activation_cosine_logits"] = diagnostics["activation_cosine"][-1]
        return {"metrics": metrics, "curves": curves, "diagnostics": diagnostics,
                "evaluation_seconds": seconds}

    def _spatial(self, net, x, y):
        c = self.config
        box = dict(translation=c.translation, rotation=c.rotation)
        grid = spatial.spatial_grid(c.translation, c.rotation, c.grid)
        return {
            "spatial_random_accuracy": spatial_eval.random_transform_accuracy(
                net, x, y, seed=c.seed + 4000, **box),
            f"spatial_worst_of_{c.worst_of}_accuracy": spatial_eval.worst_of_k_accuracy(
                net, x, y, k=c.worst_of, seed=c.seed + 5000, **box),
            f"spatial_grid_{int(np.prod(c.grid))}_accuracy": spatial_eval.grid_accuracy(
                net, x[:c.grid_size], y[:c.grid_size], grid),
        }

    def _diagnostics(self, net):
        distances = representation.activation_distances(
            net, self.x_diag, self.x_diag_noisy, self.layers)
        # Exact at the logits (the table's ‖J‖_F); 8 unbiased projections
        # at wider layers, where an exact Jacobian costs a backward pass per
        # unit and made the diagnostics a quarter of every evaluation.
        norms = representation.jacobian_norms(
            net, self.x_diag, self.layers, num_projections=8, max_exact_size=16,
            seed=self.config.seed)
        return {
            "layers": list(self.layers),
            "noise_sigma": self.config.noise,
            "examples": len(self.x_diag),
            "activation_l2": [distances[n]["l2"] for n in self.layers],
            "activation_cosine": [distances[n]["cosine"] for n in self.layers],
            "jacobian_norm": [norms[n] for n in self.layers],
        }


def non_finite(result):
    """Names of the non-finite numbers in a method's result (for a warning).

    Example:

    >>> non_finite({"metrics": {"a": 1.0, "b": float("nan")}})
    ['metrics.b']
    """
    found = []

    def visit(value, path):
        if isinstance(value, dict):
            for key, item in value.items():
                visit(item, f"{path}.{key}" if path else key)
        elif isinstance(value, (list, tuple)):
            for i, item in enumerate(value):
                visit(item, f"{path}[{i}]")
        elif isinstance(value, float) and not math.isfinite(value):
            found.append(path)

    visit(result, "")
    return found
