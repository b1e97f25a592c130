"""Four model families and every preset with its defaults, for the defaults checks.

The families differ in what makes a default weight fail to transfer:
input scale and size, width, BatchNorm, convolution over time, recurrent
token models. Data ships with installed packages or is generated (no
download). `recipes/default_weights.py` prints the study; `tests/test_defaults_science.py`
asserts it.
"""

import keras
import numpy as np

import keras_invariance as ki
from keras_invariance.datasets import digits

FAMILIES = ("mlp", "cnn_bn", "conv1d", "rnn_tokens")


def family_data(name, seed=0, train=None):
    """`((x_train, y_train), (x_test, y_test), noise)` for a family.

    `noise` is the family's natural perturbation for the IRL rows and the
    noisy accuracy: Gaussian noise at half the inputs' scale, or token noise.
    """
    if name in ("mlp", "cnn_bn"):
        (xt, yt), (xs, ys) = digits.load_digits(seed=seed, image=name == "cnn_bn")
        # σ = 0.5 is the main job's (and the IRL ordering check's) noise;
        # the BatchNorm CNN gets a moderate σ = 0.2 (see `noise_stddev`).
        stddev = noise_stddev(name)
        noise = lambda: ki.GaussianNoise(stddev)  # noqa: E731
    elif name == "conv1d":
        from mnist1d.data import get_dataset_args
        from mnist1d.data import make_dataset

        args = get_dataset_args()
        args.num_samples, args.seed = 3000, seed
        data = make_dataset(args)
        xt = data["x"][..., None].astype("float32")
        xs = data["x_test"][..., None].astype("float32")
        yt, ys = data["y"].astype("int32"), data["y_test"].astype("int32")
        noise = lambda: ki.GaussianNoise(0.5)  # noqa: E731
    elif name == "rnn_tokens":
        (xt, yt), (xs, ys) = token_data(seed)
        noise = lambda: ki.UnigramNoise(vocabulary_size=VOCAB, p=0.2, pad_id=0)  # noqa: E731
    else:
        raise ValueError(f"unknown family {name!r}; use one of {FAMILIES}")
    if train is not None:
        xt, yt = xt[:train], yt[:train]
    return (xt, yt), (xs, ys), noise


def noise_stddev(family):
    """The Gaussian σ of a family's perturbation and noisy test accuracy."""
    return 0.2 if family == "cnn_bn" else 0.5


VOCAB = 40
LENGTH = 16
CLASSES = 4


def token_data(seed=0, n_train=2000, n_test=600):
    """Sequences whose class sets which tokens are frequent (a bag-of-words task
    with order noise), ids 1..VOCAB-1, 0 is padding."""
    rng = np.random.default_rng(seed + 101)
    base = rng.dirichlet(np.ones(VOCAB - 1), size=CLASSES)
    preferred = rng.permutation(VOCAB - 1)[: CLASSES * 3].reshape(CLASSES, 3)
    for c in range(CLASSES):
        base[c, preferred[c]] += 0.15
    base /= base.sum(axis=1, keepdims=True)

    def draw(n, rng):
        y = rng.integers(0, CLASSES, n)
        x = np.stack([rng.choice(VOCAB - 1, LENGTH, p=base[c]) + 1 for c in y])
        return x.astype("int32"), y.astype("int32")

    return draw(n_train, rng), draw(n_test, rng)


def build_base(name, seed=0):
    keras.utils.set_random_seed(seed)
    L = keras.layers
    if name == "mlp":
        return digits.digits_classifier(hidden_units=(256, 256))
    if name == "cnn_bn":
        inputs = keras.Input((8, 8, 1))
        h = L.Conv2D(16, 3, padding="same", name="conv_1")(inputs)
        h = L.BatchNormalization(momentum=0.9, name="bn_1")(h)
        h = L.Activation("relu")(h)
        h = L.Conv2D(32, 3, padding="same", name="conv_2")(h)
        h = L.BatchNormalization(momentum=0.9, name="bn_2")(h)
        h = L.Activation("relu")(h)
        h = L.GlobalAveragePooling2D()(h)
        h = L.Dense(64, activation="relu", name="hidden_1")(h)
        return keras.Model(inputs, L.Dense(10, name="logits")(h))
    if name == "conv1d":
        inputs = keras.Input((40, 1))
        h = L.Conv1D(32, 5, padding="same", activation="relu", name="conv_1")(inputs)
        h = L.Conv1D(32, 5, strides=2, padding="same", activation="relu", name="conv_2")(h)
        h = L.Conv1D(32, 5, strides=2, padding="same", activation="relu", name="conv_3")(h)
        h = L.Flatten()(h)
        h = L.Dense(64, activation="relu", name="hidden_1")(h)
        return keras.Model(inputs, L.Dense(10, name="logits")(h))
    if name == "rnn_tokens":
        inputs = keras.Input((LENGTH,), dtype="int32")
        e = L.Embedding(VOCAB, 16, name="embedding")(inputs)
        h = L.GRU(32, name="gru")(e)
        h = L.Dense(32, activation="relu", name="hidden_1")(h)
        return keras.Model(inputs, L.Dense(CLASSES, name="logits")(h))
    raise ValueError(f"unknown family {name!r}")


def _token_kwargs(family):
    return {"embedding_layer": "embedding"} if family == "rnn_tokens" else {}


def presets(family, noise):
    """`{name: build(base) -> InvariantModel}` of every preset, defaults only."""
    emb = _token_kwargs(family)
    out = {
        "plain": lambda b: ki.IRL(b, preset="plain"),
        "data_augmentation": lambda b: ki.IRL(b, perturbation=noise(), preset="data_augmentation"),
        "irl_batching": lambda b: ki.IRL(b, perturbation=noise(), preset="irl_batching"),
        "irl_loss": lambda b: ki.IRL(b, perturbation=noise()),
        "irl_loss_c": lambda b: ki.IRL(b, perturbation=noise(), layers="above:hidden_1"),
        "vat": lambda b: ki.VAT(b, **emb),
        "loss_ibp": lambda b: ki.LossIBP(b, **emb),
        "prediction_ibp": lambda b: ki.PredictionIBP(b, **emb),
    }
    out.update(
        {
            "noise_regularization": lambda b: ki.NoiseRegularized(b, **emb),
            "jacobian": lambda b: ki.JacobianRegularized(b, **emb),
        }
    )
    if family != "rnn_tokens":
        out.update(
            {
                "fgsm_at": lambda b: ki.AdversarialTraining(b),
                "fast_at": lambda b: ki.AdversarialTraining(b, attack="fast"),
                "at_kl": lambda b: ki.RegularizedAdversarialTraining(b, steps=3),
            }
        )
    if family == "cnn_bn":
        out.update(
            {
                "spatial_da_kl": lambda b: ki.SpatialInvariance(b, translation=1, rotation=10),
                "tangent_bp": lambda b: ki.TangentBP(b),
                "fast_tangent_bp": lambda b: ki.FastTangentBP(b),
            }
        )
    return out


def train(build, family, data, epochs, seed=0, batch_size=64, lr=1e-3):
    (xt, yt), _, _ = data
    keras.utils.set_random_seed(seed)
    model = build(build_base(family, seed))
    model.compile(
        keras.optimizers.Adam(lr),
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    model.fit(xt, yt, batch_size=batch_size, epochs=epochs, verbose=0)
    return model


def evaluate(model, family, data, seed=0):
    """(clean accuracy, noisy accuracy) on the test split."""
    _, (xs, ys), noise = data
    clean = ki.evaluation.clean_accuracy(model, xs, ys)
    if family == "rnn_tokens":
        perturb = noise()
        import tensorflow as tf

        noisy_x = perturb.perturb(tf.constant(xs)).numpy()
        noisy = ki.evaluation.clean_accuracy(model, noisy_x, ys)
    else:
        noisy = ki.evaluation.noisy_accuracy(
            model, xs, ys, noise_stddev(family), draws=3, seed=seed + 1000
        )
    return clean, noisy
