"""The peer: Neural Structured Learning's adversarial regularization vs ours.

Times TensorFlow Neural Structured Learning's `AdversarialRegularization`
(FGSM, L∞, ε = 0.1, multiplier 0.2: L(x) + 0.2·L(x*)) against plain
`tf.keras` `fit()` in NSL's own environment, and this package's
`ki.AdversarialTraining(attack="fgsm", epsilon=0.1, alpha=1, beta=0.2)` (the
same objective) against plain Keras 3 `fit()` in ours, on the same data
(scikit-learn digits in [0, 1]) and the same models (the 64→256→256→10 MLP
and a small CNN on the 8×8×1 images), batch 128.

Each side runs in separate processes (8 by default); in each process the
plain and the adversarial model are trained epoch by epoch in turns (round
robin), the first step of every epoch dropped; the process reports the
median step of each and their ratio, the median step of a bare
`tf.function` training loop (no Keras trainer: the per-step cost of Keras'
`fit()` itself), and the FGSM (ε = 0.1) test accuracy of both models after
training. The driver reports, per side, the median over processes and the
range [min–max].

NSL 1.4.0 does not import on TensorFlow 2.21, so its side needs its own
virtual environment (Python 3.11, TensorFlow 2.15.1, which bundles Keras 2):

    python3.11 -m venv /work/nsl_venv
    /work/nsl_venv/bin/pip install "tensorflow==2.15.1" \\
        "neural-structured-learning==1.4.0" scikit-learn

(do not commit it). Then, from the repository root with this package's
environment:

    python benchmarks/peer_nsl.py --nsl-python /work/nsl_venv/bin/python \\
        --processes 8 --json nsl.json --markdown nsl.md

One side in one process: `python benchmarks/peer_nsl.py --side ki` (or
`--side nsl` under the NSL interpreter); it prints `RESULT {json}`.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

HERE = os.path.dirname(os.path.abspath(__file__))
EPSILON = 0.1
MULTIPLIER = 0.2
MODELS = ("mlp", "cnn")


def _data():
    import numpy as np
    from sklearn.datasets import load_digits

    digits = load_digits()
    x = (digits.data / 16.0).astype("float32")
    y = digits.target.astype("int32")
    order = np.random.default_rng(0).permutation(len(x))
    x, y = x[order], y[order]
    return (x[:1408], y[:1408]), (x[1408:], y[1408:])


def _build(keras, kind, seed):
    keras.utils.set_random_seed(seed)
    if kind == "mlp":
        inputs = keras.Input((64,), name="feature")
        h = keras.layers.Dense(256, activation="relu")(inputs)
        h = keras.layers.Dense(256, activation="relu")(h)
    else:
        inputs = keras.Input((64,), name="feature")
        h = keras.layers.Reshape((8, 8, 1))(inputs)
        h = keras.layers.Conv2D(32, 3, padding="same", activation="relu")(h)
        h = keras.layers.MaxPooling2D()(h)
        h = keras.layers.Conv2D(64, 3, padding="same", activation="relu")(h)
        h = keras.layers.Flatten()(h)
    return keras.Model(inputs, keras.layers.Dense(10)(h))


def _fgsm_accuracy(tf, model, x, y):
    x = tf.constant(x)
    loss_fn = tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    with tf.GradientTape() as tape:
        tape.watch(x)
        loss = loss_fn(y, model(x, training=False))
    x_adv = tf.clip_by_value(x + EPSILON * tf.sign(tape.gradient(loss, x)), 0.0, 1.0)
    return float(tf.reduce_mean(tf.cast(tf.argmax(model(x_adv), -1) == y, tf.float32)))


def _bare_step_ms(tf, keras, kind, x, y, batch, steps=60):
    model = _build(keras, kind, seed=1)
    optimizer = keras.optimizers.Adam(1e-3)
    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)

    @tf.function
    def step(xb, yb):
        with tf.GradientTape() as tape:
            loss = loss_fn(yb, model(xb, training=True))
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
        return loss

    batches = [(tf.constant(x[i:i + batch]), tf.constant(y[i:i + batch]))
               for i in range(0, len(x) - batch + 1, batch)]
    times = []
    for i in range(steps + 2):
        xb, yb = batches[i % len(batches)]
        start = time.perf_counter()
        float(step(xb, yb))
        if i >= 2:
            times.append(time.perf_counter() - start)
    return 1e3 * statistics.median(times)


def run_side(side, epochs, batch):
    """One process: {model: {plain_ms, adversarial_ms, ratio, bare_ms, fgsm…}}."""
    import tensorflow as tf

    if side == "nsl":
        import neural_structured_learning as nsl

        keras = tf.keras
    else:
        import keras

        # This checkout's package, not another installed copy.
        sys.path.insert(0, os.path.dirname(HERE))
        import keras_invariance as ki
    sys.path.insert(0, HERE)
    from _protocol import StepTimer

    (x, y), (x_test, y_test) = _data()
    # NSL's side uses tf.keras, whose version is the bundled Keras 2 package's.
    keras_version = keras.__version__ if side == "ki" else __import__("keras").__version__
    out = {"side": side, "tensorflow": tf.__version__, "keras": keras_version}
    for kind in MODELS:
        plain = _build(keras, kind, seed=0)
        base = _build(keras, kind, seed=0)
        loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
        if side == "nsl":
            config = nsl.configs.make_adv_reg_config(
                multiplier=MULTIPLIER, adv_step_size=EPSILON, adv_grad_norm="infinity")
            adversarial = nsl.keras.AdversarialRegularization(
                base, label_keys=["label"], adv_config=config)
            data = {"feature": x, "label": y}
            adv_fit = lambda **kw: adversarial.fit(data, **kw)  # noqa: E731
        else:
            adversarial = ki.AdversarialTraining(
                base, attack="fgsm", epsilon=EPSILON, alpha=1.0, beta=MULTIPLIER)
            adv_fit = lambda **kw: adversarial.fit(x, y, **kw)  # noqa: E731
        plain.compile(keras.optimizers.Adam(1e-3), loss, metrics=["accuracy"])
        adversarial.compile(keras.optimizers.Adam(1e-3), loss, metrics=["accuracy"])
        times = {"plain": [], "adversarial": []}
        for epoch in range(epochs):
            for name in ("plain", "adversarial"):
                timer = StepTimer()
                kwargs = dict(batch_size=batch, epochs=1, verbose=0, shuffle=False,
                              callbacks=[timer])
                if name == "plain":
                    plain.fit(x, y, **kwargs)
                else:
                    adv_fit(**kwargs)
                if epoch > 0:  # the first epoch traces
                    times[name] += timer.times[1:]
        plain_ms = 1e3 * statistics.median(times["plain"])
        adv_ms = 1e3 * statistics.median(times["adversarial"])
        out[kind] = {
            "plain_ms": plain_ms,
            "adversarial_ms": adv_ms,
            "ratio": adv_ms / plain_ms,
            "bare_ms": _bare_step_ms(tf, keras, kind, x, y, batch),
            "fgsm_accuracy_plain": _fgsm_accuracy(tf, plain, x_test, y_test),
            "fgsm_accuracy_adversarial": _fgsm_accuracy(tf, base, x_test, y_test),
        }
    return out


def _spread(values):
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def drive(args):
    """Runs `processes` separate processes per side, alternating sides."""
    sides = {"ki": sys.executable, "nsl": args.nsl_python}
    runs = {side: [] for side in sides}
    for i in range(args.processes):
        for side, python in sides.items():
            command = [python, os.path.abspath(__file__), "--side", side,
                       "--epochs", str(args.epochs), "--batch", str(args.batch)]
            result = subprocess.run(command, capture_output=True, text=True,
                                    cwd=os.getcwd(), timeout=1800)
            line = [ln for ln in result.stdout.splitlines() if ln.startswith("RESULT ")]
            if not line:
                raise RuntimeError(f"{side} run failed:\n{result.stderr[-3000:]}")
            runs[side].append(json.loads(line[0][len("RESULT "):]))
            print(f"process {i + 1}/{args.processes} {side}: "
                  + ", ".join(f"{k} {runs[side][-1][k]['ratio']:.2f}×" for k in MODELS), flush=True)
    summary = {}
    for side, results in runs.items():
        summary[side] = {"tensorflow": results[0]["tensorflow"], "keras": results[0]["keras"]}
        for kind in MODELS:
            summary[side][kind] = {
                key: _spread([r[kind][key] for r in results])
                for key in results[0][kind]
            }
    return {"processes": args.processes, "epochs": args.epochs, "batch": args.batch,
            "runs": runs, "summary": summary}


def markdown(payload):
    s = payload["summary"]
    rows = []
    for kind in MODELS:
        for side, label in (("nsl", "NSL AdversarialRegularization"),
                            ("ki", "ki.AdversarialTraining")):
            e = s[side][kind]

            def f(key, fmt="{:.2f}"):
                v = e[key]
                return f"{fmt.format(v['median'])} [{fmt.format(v['min'])}–{fmt.format(v['max'])}]"

            rows.append([kind, f"{label} (TF {s[side]['tensorflow']}, Keras {s[side]['keras']})",
                         f(key="plain_ms"), f(key="bare_ms"), f(key="ratio"),
                         f"{e['fgsm_accuracy_plain']['median']:.2f}",
                         f"{e['fgsm_accuracy_adversarial']['median']:.2f}"])
    header = ["model", "package (environment)", "plain fit ms/step", "bare tf.function ms/step",
              "adversarial × plain", "FGSM acc. plain", "FGSM acc. adversarial"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return (f"**Peer comparison**: FGSM L∞ ε = {EPSILON}, L(x) + {MULTIPLIER}·L(x*), digits, "
            f"batch {payload['batch']}; median [min–max] over {payload['processes']} processes "
            "per side, each ratio to its own environment's plain fit()\n\n"
            + "\n".join(lines) + "\n")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--side", choices=("ki", "nsl"), default=None,
                        help="run one side in this process")
    parser.add_argument("--nsl-python", default="/work/nsl_venv/bin/python")
    parser.add_argument("--processes", type=int, default=8)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--json", default=None)
    parser.add_argument("--markdown", default=None)
    args = parser.parse_args(argv)
    if args.side:
        print("RESULT " + json.dumps(run_side(args.side, args.epochs, args.batch)), flush=True)
        return
    payload = drive(args)
    text = markdown(payload)
    print(text)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(payload, f, indent=2, sort_keys=True)
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write(text)


if __name__ == "__main__":
    main()
