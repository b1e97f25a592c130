"""The methods the report can train: every paper family, by key.

Each entry builds its configuration with a public preset and **the preset's
own default weights**: nothing here sets α, β, γ or λ. The report supplies
only what a preset needs and has no default for, or what must match the
data: the Gaussian noise σ of the IRL rows (which take a perturbation), and
the spatial box of the spatial rows (the box the report evaluates on). The
weights a model actually trained with are read back from its variables
(`keras_invariance.integrations.terms.term_values`), so they are printed and saved
whatever the presets' defaults are.
"""

import collections
import difflib

from keras_invariance.perturbations.noise import GaussianNoise
from keras_invariance.presets import invariant_backprop
from keras_invariance.presets import irl
from keras_invariance.presets import noise_jacobian_vat
from keras_invariance.presets import regularized_augmentation

#: One row of the report. `build(base, config)` returns an uncompiled
#: `InvariantModel`; `images` marks methods that need image inputs.
Method = collections.namedtuple(
    "Method", ["key", "name", "family", "call", "build", "images"]
)


def _noise(config):
    return GaussianNoise(config.noise, seed=config.seed)


def _irl(preset):
    def build(base, config):
        perturbation = None if preset == "plain" else _noise(config)
        return irl.IRL(base, perturbation=perturbation, preset=preset)

    return build


def _spatial(mode):
    def build(base, config):
        return regularized_augmentation.SpatialInvariance(
            base, preset=mode, translation=config.translation,
            rotation=config.rotation, seed=config.seed,
        )

    return build


def _entry(key, name, family, call, build, images=False):
    return key, Method(key, name, family, call, build, images)


IRL_FAMILY = "IRL (Salazar et al.)"
NJV_FAMILY = "noise / Jacobian / VAT"
IBP_FAMILY = "Invariant BP (Demyanov et al.)"
SPATIAL_FAMILY = "spatial invariance (Yang et al.)"

#: Every method, in report order.
METHODS = collections.OrderedDict([
    _entry("plain", "plain", IRL_FAMILY, "IRL(preset='plain')", _irl("plain")),
    _entry("data_augmentation", "data augmentation", IRL_FAMILY,
           "IRL(GaussianNoise(σ), preset='data_augmentation')", _irl("data_augmentation")),
    _entry("irl_batching", "IRL batching", IRL_FAMILY,
           "IRL(GaussianNoise(σ), preset='irl_batching')", _irl("irl_batching")),
    _entry("irl_loss", "IRL loss", IRL_FAMILY,
           "IRL(GaussianNoise(σ), preset='irl_loss')", _irl("irl_loss")),
    _entry("noise_regularization", "noise regularization", NJV_FAMILY,
           "NoiseRegularized()", lambda base, c: noise_jacobian_vat.NoiseRegularized(base)),
    _entry("jacobian", "Jacobian", NJV_FAMILY, "JacobianRegularized()",
           lambda base, c: noise_jacobian_vat.JacobianRegularized(base)),
    _entry("vat", "VAT", NJV_FAMILY, "VAT()", lambda base, c: noise_jacobian_vat.VAT(base)),
    _entry("loss_ibp", "Loss IBP", IBP_FAMILY, "LossIBP()",
           lambda base, c: invariant_backprop.LossIBP(base)),
    _entry("prediction_ibp", "Prediction IBP", IBP_FAMILY, "PredictionIBP()",
           lambda base, c: invariant_backprop.PredictionIBP(base)),
    _entry("fgsm_at", "FGSM AT", IBP_FAMILY, "AdversarialTraining(attack='fgsm')",
           lambda base, c: invariant_backprop.AdversarialTraining(base, attack="fgsm")),
    _entry("fast_at", "fast AT", IBP_FAMILY, "AdversarialTraining(attack='fast')",
           lambda base, c: invariant_backprop.AdversarialTraining(base, attack="fast")),
    _entry("pgd_at", "PGD AT", IBP_FAMILY, "AdversarialTraining(attack='pgd')",
           lambda base, c: invariant_backprop.AdversarialTraining(base, attack="pgd")),
    _entry("at_kl", "AT+KL", SPATIAL_FAMILY, "RegularizedAdversarialTraining()",
           lambda base, c: regularized_augmentation.RegularizedAdversarialTraining(base)),
    _entry("tangent_bp", "Tangent BP", IBP_FAMILY, "TangentBP()",
           lambda base, c: invariant_backprop.TangentBP(base), images=True),
    _entry("fast_tangent_bp", "fast TBP", IBP_FAMILY, "FastTangentBP()",
           lambda base, c: invariant_backprop.FastTangentBP(base), images=True),
    _entry("spatial_da", "spatial D.A.", SPATIAL_FAMILY,
           "SpatialInvariance(preset='da', box)", _spatial("da"), images=True),
    _entry("spatial_da_kl", "spatial D.A.+KL", SPATIAL_FAMILY,
           "SpatialInvariance(preset='da_kl', box)", _spatial("da_kl"), images=True),
    _entry("spatial_at", "spatial A.T.", SPATIAL_FAMILY,
           "SpatialInvariance(preset='at', box)", _spatial("at"), images=True),
    _entry("spatial_at_kl", "spatial A.T.+KL", SPATIAL_FAMILY,
           "SpatialInvariance(preset='at_kl', box)", _spatial("at_kl"), images=True),
])

#: The default run: one row per paper family and method, and spatial D.A.
#: beside D.A.+KL (the spatial paper's own comparison).
DEFAULT_METHODS = (
    "plain", "data_augmentation", "irl_batching", "irl_loss",
    "noise_regularization", "jacobian", "vat", "loss_ibp", "prediction_ibp",
    "fgsm_at", "fast_at", "at_kl", "tangent_bp", "spatial_da", "spatial_da_kl",
)


def unknown_key_message(key, keys=None, what="method"):
    """Says that `key` is unknown, suggests close keys and lists them all.

    Example:

    >>> unknown_key_message("irl_los")
    "unknown method 'irl_los' (did you mean 'irl_loss'?); choose from ..."

    Args:
        key: The unknown key.
        keys: The known keys (default: every report method).
        what: What a key names, for the message.

    Returns:
        A one-line message.
    """
    keys = list(METHODS if keys is None else keys)
    return f"unknown {what} {_with_hint(key, keys)}; choose from {', '.join(keys)}"


def _with_hint(key, keys):
    """`'key'`, followed by `(did you mean …?)` when some keys are close."""
    close = difflib.get_close_matches(key, keys, n=3, cutoff=0.6)
    # A prefix of keys ("irl", "spatial") is close too.
    close += [k for k in keys if k.startswith(key) and k not in close]
    close = close[:3]
    return f"{key!r}" + (f" (did you mean {' or '.join(map(repr, close))}?)"
                         if close else "")


def resolve_methods(names, images=True, explicit=True):
    """The `Method`s for a list of keys (`"default"` and `"all"` expand).

    Example:

    >>> [m.name for m in resolve_methods(["plain", "vat"])]
    ['plain', 'VAT']

    Args:
        names: Method keys (see `METHODS`), or `"default"` / `"all"`.
        images: Whether the data are images (4-D).
        explicit: Whether the user chose the list; if not, methods needing
            images are dropped quietly for non-image data.

    Returns:
        A list of `Method`, without repeats, in the given order.

    Raises:
        ValueError: For an unknown key (the message lists the keys), an
            empty list, or an image-only method chosen for non-image data.
    """
    keys = []
    for name in names:
        expanded = {"default": DEFAULT_METHODS, "all": tuple(METHODS)}.get(name, (name,))
        keys += [k for k in expanded if k not in keys]
    unknown = [k for k in keys if k not in METHODS]
    if unknown:
        hints = [_with_hint(key, list(METHODS)) for key in unknown]
        raise ValueError(
            f"unknown method(s) {', '.join(hints)}; choose from "
            f"{', '.join(METHODS)} (or 'default', 'all')"
        )
    if not keys:
        raise ValueError("no methods given; choose from " + ", ".join(METHODS))
    methods = [METHODS[k] for k in keys]
    if not images:
        needing = [m.key for m in methods if m.images]
        if needing and explicit:
            raise ValueError(
                f"method(s) {', '.join(needing)} need image inputs (batch, "
                "height, width, channels), but the data are not images"
            )
        methods = [m for m in methods if not m.images]
    return methods
