"""Callbacks: diagnostics in logs and TensorBoard, weight schedules, monitoring."""

import glob
import os

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_invariance as ki
from keras_invariance import evaluation
from keras_invariance.integrations import callbacks
from keras_invariance.integrations import tuning
from keras_invariance.utils.hyperparameters import value_of
from tests.engine_checks import SCCE
from tests.engine_checks import tiny_data
from tests.engine_checks import tiny_mlp


def compiled(model, lr=0.05):
    model.compile(keras.optimizers.SGD(lr), SCCE)
    return model


# ----------------------------------------------------------- diagnostics


def test_diagnostics_log_what_the_evaluation_functions_compute():
    x, y = tiny_data(64)
    model = compiled(ki.IRL(tiny_mlp(), perturbation=ki.perturbations.GaussianNoise(0.2)))
    diagnostics = callbacks.InvarianceDiagnostics(x[:32], perturbation=0.2, seed=4)
    history = model.fit(x, y, epochs=2, batch_size=16, verbose=0, callbacks=[diagnostics])
    layers = ["hidden", "hidden2", "logits"]
    names = [f"val_{kind}/{layer}" for kind in
             ("activation_l2", "activation_cosine", "jacobian_norm") for layer in layers]
    assert set(names) <= set(history.history)
    # After the last epoch the weights are those the last values were read on.
    x_noisy = evaluation.add_gaussian_noise(x[:32], 0.2, seed=4)
    distances = evaluation.activation_distances(model, x[:32], x_noisy)
    norms = evaluation.jacobian_norms(model, x[:32], seed=4)
    for layer in layers:
        assert history.history[f"val_activation_l2/{layer}"][-1] == pytest.approx(
            distances[layer]["l2"], rel=1e-6)
        assert history.history[f"val_jacobian_norm/{layer}"][-1] == pytest.approx(
            norms[layer], rel=1e-6)


def test_an_invariance_term_lowers_the_logged_distance():
    x, y = tiny_data(128, seed=3)

    def final_distance(model):
        keras.utils.set_random_seed(0)
        diagnostics = callbacks.InvarianceDiagnostics(x, perturbation=0.5, layers="logits",
                                                      jacobian=False)
        history = compiled(model).fit(x, y, epochs=8, batch_size=32, verbose=0,
                                      callbacks=[diagnostics])
        return history.history["val_activation_l2/logits"]

    keras.utils.set_random_seed(0)
    plain = final_distance(ki.IRL(tiny_mlp(), preset="plain"))
    keras.utils.set_random_seed(0)
    irl = final_distance(ki.IRL(tiny_mlp(), perturbation=ki.perturbations.GaussianNoise(0.5),
                                distance="squared_l2", weight=5.0))
    # The callback logs the raw L2 distance. IRL lowers it relative to the
    # logits' energy and no longer by shrinking the logits (the energy is in
    # the gradient), so the raw distance ends at 0.56× plain's here.
    assert irl[-1] < 0.7 * plain[-1]
    assert irl[-1] < irl[0]


def test_diagnostics_reach_tensorboard_next_to_the_training_terms(tmp_path):
    from tensorboard.backend.event_processing import event_accumulator

    x, y = tiny_data(32)
    model = compiled(ki.IRL(tiny_mlp(), perturbation=ki.perturbations.GaussianNoise(0.2)))
    model.fit(x, y, epochs=2, verbose=0, callbacks=[
        callbacks.InvarianceDiagnostics(x, perturbation=0.2, jacobian=True),
        keras.callbacks.TensorBoard(str(tmp_path)),
    ])

    def tags(run):
        (path,) = glob.glob(os.path.join(tmp_path, run, "events.out.tfevents.*"))
        acc = event_accumulator.EventAccumulator(path)
        acc.Reload()
        return set(acc.Tags()["tensors"]) | set(acc.Tags()["scalars"])

    assert {"epoch_irl_distance", "epoch_clean_loss"} <= tags("train")
    assert {"epoch_activation_l2/hidden", "epoch_activation_cosine/logits",
            "epoch_jacobian_norm/hidden2"} <= tags("validation")


def test_diagnostics_accept_arrays_and_callables_and_reject_bad_copies():
    x, _ = tiny_data(8)
    layer = keras.layers.GaussianNoise(0.1)
    assert callbacks.InvarianceDiagnostics(x, perturbation=layer).x_perturbed.shape == x.shape
    assert np.array_equal(callbacks.InvarianceDiagnostics(x, perturbation=x + 1).x_perturbed, x + 1)
    with pytest.raises(ValueError, match="shape of `x`"):
        callbacks.InvarianceDiagnostics(x, perturbation=x[:2])
    with pytest.raises(ValueError, match="`perturbation`"):
        callbacks.InvarianceDiagnostics(x, perturbation=-0.1)
    with pytest.raises(ValueError, match="float inputs"):
        callbacks.InvarianceDiagnostics(x.astype("int32"), perturbation=0.1)
    with pytest.raises(ValueError, match="`every`"):
        callbacks.InvarianceDiagnostics(x, perturbation=0.1, every=0)


# ------------------------------------------------------------- schedules


class _Recorder(keras.callbacks.Callback):
    """The variable's value during each epoch's first step."""

    def __init__(self, variable_fn):
        super().__init__()
        self.variable_fn = variable_fn
        self.seen = []

    def on_train_batch_begin(self, batch, logs=None):
        if batch == 0:
            self.seen.append(value_of(self.variable_fn(self.model)))


def test_schedule_ramps_the_weight_that_training_uses():
    x, y = tiny_data(32)
    model = compiled(
        ki.IRL(tiny_mlp(), perturbation=ki.perturbations.GaussianNoise(0.3), weight=0.0)
    )
    schedule = callbacks.WeightSchedule("irl_distance", value=0.6, start_epoch=2, ramp_epochs=2)
    recorder = _Recorder(lambda m: m.penalties[0].weight)
    history = model.fit(x, y, epochs=6, batch_size=8, verbose=0,
                        callbacks=[schedule, recorder])
    expected = [0.0, 0.0, 0.2, 0.4, 0.6, 0.6]
    assert recorder.seen == pytest.approx(expected, abs=1e-6)
    assert history.history["weight/irl_distance"] == pytest.approx(expected, abs=1e-6)
    # The logged objective is α·L + β·L_noise + w·R with that epoch's w: the
    # term is off before the ramp and on after it.
    h = history.history
    for epoch, weight in enumerate(expected):
        total = (0.5 * h["clean_loss"][epoch] + 0.5 * h["perturbed_loss"][epoch]
                 + weight * h["irl_distance"][epoch])
        assert h["loss"][epoch] == pytest.approx(total, rel=1e-5)


def test_schedule_defaults_to_the_built_weight_and_takes_any_term():
    x, y = tiny_data(16)
    model = compiled(ki.VAT(tiny_mlp(), epsilon=0.5))
    built = value_of(model.penalties[0].weight)
    history = model.fit(x, y, epochs=3, verbose=0, callbacks=[
        callbacks.WeightSchedule("vat", start_epoch=1),
        callbacks.WeightSchedule("vat.epsilon", schedule=lambda epoch, value: value * (epoch + 1)),
    ])
    assert history.history["weight/vat"] == [0.0, built, built]
    assert history.history["weight/vat.epsilon"] == pytest.approx([0.5, 1.0, 1.5])


def test_schedule_errors_name_the_terms():
    x, y = tiny_data(8)
    model = compiled(ki.VAT(tiny_mlp()))
    with pytest.raises(ValueError, match=r"no term 'irl_distance'.*'vat'"):
        model.fit(x, y, verbose=0, callbacks=[callbacks.WeightSchedule("irl_distance")])
    zero = compiled(ki.LossIBP(tiny_mlp(), weight=0.0))
    with pytest.raises(ValueError, match="pass `value=`"):
        zero.fit(x, y, verbose=0, callbacks=[callbacks.WeightSchedule("loss_ibp")])
    with pytest.raises(ValueError, match="`start_epoch`"):
        callbacks.WeightSchedule("vat", start_epoch=-1)
    with pytest.raises(ValueError, match="`value`"):
        callbacks.WeightSchedule("vat", value=float("nan"))
    bad = callbacks.WeightSchedule("vat", schedule=lambda epoch, value: -1.0)
    with pytest.raises(ValueError, match="finite number ≥ 0"):
        model.fit(x, y, verbose=0, callbacks=[bad])


def _image_base():
    return keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Flatten(),
                             keras.layers.Dense(3)])


# Every preset whose term has a weight keeps that term when the weight is
# given explicitly as 0, so that a WeightSchedule can raise it.
ZERO_WEIGHT_PRESETS = {
    "IRL": lambda: ki.IRL(tiny_mlp(), perturbation=ki.perturbations.GaussianNoise(0.1), weight=0.0),
    "NoiseRegularized": lambda: ki.NoiseRegularized(tiny_mlp(), weight=0.0),
    "JacobianRegularized": lambda: ki.JacobianRegularized(tiny_mlp(), weight=0.0),
    "VAT": lambda: ki.VAT(tiny_mlp(), weight=0.0),
    "LossIBP": lambda: ki.LossIBP(tiny_mlp(), weight=0.0),
    "PredictionIBP": lambda: ki.PredictionIBP(tiny_mlp(), weight=0.0),
    "TangentBP": lambda: ki.TangentBP(_image_base(), weight=0.0),
    "FastTangentBP": lambda: ki.FastTangentBP(_image_base(), weight=0.0),
    "SpatialInvariance": lambda: ki.SpatialInvariance(_image_base(), preset="da_kl", weight=0.0),
    "RegularizedAdversarialTraining": lambda: ki.RegularizedAdversarialTraining(
        tiny_mlp(), weight=0.0),
}


@pytest.mark.parametrize("name", sorted(ZERO_WEIGHT_PRESETS))
def test_presets_keep_a_term_built_with_weight_zero(name):
    model = ZERO_WEIGHT_PRESETS[name]()
    assert len(model.penalties) == 1
    assert value_of(model.penalties[0].weight) == 0.0


# ------------------------------------------------------------ monitoring


def test_penalty_metrics_need_no_mode_for_keras_callbacks():
    """The term trackers are lower-is-better metrics Keras can see."""
    x, y = tiny_data(32)
    model = compiled(ki.IRL(tiny_mlp(), perturbation=ki.perturbations.GaussianNoise(0.2)))
    for monitor in ("irl_distance", "clean_loss", "perturbed_loss"):
        stop = keras.callbacks.EarlyStopping(monitor=monitor, patience=0, min_delta=1e9)
        history = model.fit(x, y, epochs=5, verbose=0, callbacks=[stop])
        assert len(history.history["loss"]) == 2  # no epoch improves by 1e9
        assert stop.monitor_op is keras.ops.less
    assert tuning.OBJECTIVES["irl_distance"] == "min"
    # evaluate() stays a plain model's.
    assert sorted(model.evaluate(x, y, verbose=0, return_dict=True)) == ["loss"]


def test_model_checkpoint_saves_on_a_penalty_with_mode_min(tmp_path):
    x, y = tiny_data(32)
    model = compiled(ki.VAT(tiny_mlp()))
    path = str(tmp_path / "best.keras")
    checkpoint = keras.callbacks.ModelCheckpoint(path, monitor="vat", mode="min",
                                                 save_best_only=True)
    model.fit(x, y, epochs=2, verbose=0, callbacks=[checkpoint])
    assert os.path.exists(path)
    reloaded = keras.models.load_model(path)
    assert tf.reduce_all(tf.equal(reloaded.penalties[0].weight, model.penalties[0].weight))


def test_every_builtin_penalty_name_is_a_tuner_objective_to_minimise():
    names = {
        type(p).__name__: p.name
        for p in (
            ki.penalties.ActivationDistance(),
            ki.penalties.OutputDivergence(),
            ki.penalties.NoiseRegularization(),
            ki.penalties.Jacobian(),
            ki.penalties.VAT(),
            ki.penalties.LossIBP(),
            ki.penalties.PredictionIBP(),
            ki.penalties.TangentProp(),
            ki.penalties.FastTangentProp(),
            ki.penalties.AdversarialLoss(ki.perturbations.FGSM()),
        )
    }
    for name in names.values():
        assert tuning.objective(name).direction == "min"


# ------------------------------------------------- BatchNorm recalibration


def _nested_batchnorm_model():
    # A Dense with a fixed kernel feeds a BatchNorm inside a nested backbone,
    # so the statistics the re-estimate must reach are known in closed form.
    keras.utils.set_random_seed(3)
    inputs = keras.Input((4,))
    features = keras.layers.Dense(3, name="features")(inputs)
    normalized = keras.layers.BatchNormalization(momentum=0.9, name="bn")(features)
    backbone = keras.Model(inputs, normalized, name="backbone")
    outer = keras.Input((4,))
    return keras.Model(outer, keras.layers.Dense(2, name="logits")(backbone(outer)))


def test_reestimate_sets_the_batch_weighted_statistics_and_nothing_else():
    from keras_invariance.graph.batchnorm import reestimate_moving_statistics

    model = _nested_batchnorm_model()
    x = np.random.default_rng(0).normal(2.0, 3.0, (10, 4)).astype("float32")
    trainable = [keras.ops.convert_to_numpy(v) for v in model.trainable_variables]
    assert reestimate_moving_statistics(model, x, batch_size=4) == 1
    features = keras.ops.convert_to_numpy(model.get_layer("backbone").get_layer("features")(x))
    batches = [features[i:i + 4] for i in range(0, 10, 4)]  # 4, 4 and 2 rows
    rows = np.array([len(b) for b in batches], "float64")[:, None]
    mean = (rows * np.stack([b.mean(0) for b in batches])).sum(0) / 10
    variance = (rows * np.stack([b.var(0) for b in batches])).sum(0) / 10
    bn = model.get_layer("backbone").get_layer("bn")
    np.testing.assert_allclose(keras.ops.convert_to_numpy(bn.moving_mean), mean, rtol=1e-5)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(bn.moving_variance), variance,
                               rtol=1e-4)
    assert bn.momentum == 0.9
    for before, after in zip(trainable, model.trainable_variables):
        np.testing.assert_array_equal(before, keras.ops.convert_to_numpy(after))
    # A tf.data pipeline of (x, y) batches gives the same statistics.
    bn.moving_mean.assign(np.zeros(3, "float32"))
    data = tf.data.Dataset.from_tensor_slices((x, np.zeros(10))).batch(4)
    reestimate_moving_statistics(model, data)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(bn.moving_mean), mean, rtol=1e-5)


def test_after_recalibration_on_one_batch_inference_mode_equals_training_mode():
    keras.utils.set_random_seed(0)
    x, y = tiny_data(64)
    base = keras.Sequential([keras.Input((x.shape[1],)), keras.layers.Dense(16),
                             keras.layers.BatchNormalization(), keras.layers.ReLU(),
                             keras.layers.Dense(3)])
    model = compiled(ki.IRL(base, perturbation=ki.perturbations.GaussianNoise(0.2)), lr=0.2)
    model.fit(x, y, epochs=3, batch_size=16, verbose=0)
    gap_before = np.abs(model.predict(x, verbose=0) - base(x, training=True)).max()
    recalibration = callbacks.BatchNormRecalibration(x, batch_size=64)
    recalibration.set_model(model)
    assert recalibration.recalibrate() == 1
    gap_after = np.abs(model.predict(x, verbose=0) - base(x, training=True)).max()
    assert gap_before > 0.1 and gap_after < 1e-4, (gap_before, gap_after)


@pytest.mark.parametrize("at", ["train_end", "epoch_end"])
def test_recalibration_callback_runs_when_it_says(at):
    x, y = tiny_data(32)
    base = keras.Sequential([keras.Input((x.shape[1],)), keras.layers.BatchNormalization(),
                             keras.layers.Dense(3)])
    model = compiled(ki.IRL(base, perturbation=ki.perturbations.GaussianNoise(0.2)))
    seen = []

    class Probe(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            seen.append(keras.ops.convert_to_numpy(base.layers[0].moving_mean).copy())

    model.fit(x, y, epochs=2, batch_size=32, verbose=0,
              callbacks=[callbacks.BatchNormRecalibration(x, batch_size=32, at=at), Probe()])
    final = keras.ops.convert_to_numpy(base.layers[0].moving_mean)
    np.testing.assert_allclose(final, x.mean(0), rtol=1e-4, atol=1e-6)
    # Epoch-end recalibration is what the next callback sees; at train end
    # the epochs still saw the lagging average.
    assert np.allclose(seen[0], x.mean(0), atol=1e-6) == (at == "epoch_end")


def test_recalibration_rejects_bad_arguments_and_ignores_models_without_batchnorm():
    with pytest.raises(ValueError, match="`at` must be"):
        callbacks.BatchNormRecalibration(np.ones((2, 2)), at="batch_end")
    with pytest.raises(ValueError, match="`batch_size` must be"):
        callbacks.BatchNormRecalibration(np.ones((2, 2)), batch_size=0)
    recalibration = callbacks.BatchNormRecalibration(np.ones((4, 4), "float32"))
    recalibration.set_model(tiny_mlp())
    assert recalibration.recalibrate() == 0
