"""Training-step time and memory of every method, as ratios to plain `fit()`.

One entry point for every benchmark (the protocol is in `_protocol.py`):

    python benchmarks/run.py --suite mlp|cnn|spatial|scaling|memory|floors|overhead
        [--jit | --jit both] [--quick] [--rounds N] [--steps N]
        [--methods a b ...] [--json out.json] [--markdown out.md]

Suites:

* `mlp`: the 64→256→256→10 MLP on scikit-learn digits, batch 128 (a few ms
  per plain step: per-op overhead dominates the ratios).
* `cnn`: every preset on a small ResNet (3 residual stages, BatchNorm) with
  synthetic 32×32×3 data, batch 128: compute dominates.
* `spatial`: the spatial methods and Tangent BP on the 16×16 digits CNN,
  batch 64 (the Invariant BP paper's kind of model), XLA by default.
* `scaling`: IRL and VAT as K (perturbed copies; VAT's power iterations)
  goes 1→2→4→8, as IRL's tapped layers go 1→all, and as the batch goes
  32→512, on the CNN (`--model mlp` for the MLP): step times, ratios and the
  fitted cost of one more K or layer next to its ideal.
* `memory`: the TensorFlow allocator's peak during training steps, one
  fresh subprocess per method, as a ratio to plain (`--model cnn|mlp`);
  `--methods floor_loss_ibp …` adds a floor's bare-tape step (`_floors.py`).
* `floors`: each method's passes written with bare `tf.GradientTape`
  outside the package (`_floors.py`), timed against the package's method
  in the same round robin: the gap is package ratio / floor ratio.
* `overhead`: where a plain step's time goes in Keras 3: a bare
  `tf.function` loop, `fit()`, `fit(steps_per_execution=…)` and
  `ki.InvariantModel(base, alpha=1)`.
* `kernels`: no timing: the convolution FLOPs of each method's traced train
  step as a ratio to plain (`_kernels.py`), the floor of its time ratio on
  a convolutional model whatever the machine's load (`--model cnn|spatial`).

Every suite prints a markdown table, and writes it with `--markdown` and the
raw numbers (and the machine) with `--json`. `--quick` runs tiny models for
a few steps (the smoke test in tests/test_benchmarks.py).
"""

import argparse
import os
import statistics
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
HERE = os.path.dirname(os.path.abspath(__file__))
# This checkout's package first (not another installed copy), then the
# benchmark helpers beside this file.
sys.path[:0] = [os.path.dirname(HERE), HERE]

import _floors  # noqa: E402
import _kernels  # noqa: E402
import _methods  # noqa: E402
import _models  # noqa: E402
import _protocol as protocol  # noqa: E402
import keras  # noqa: E402
import numpy as np  # noqa: E402

import keras_invariance as ki  # noqa: E402

SUITES = ("mlp", "cnn", "spatial", "scaling", "memory", "floors", "overhead", "kernels")
#: Methods that TF 2.21 recompiles at every XLA step (see `TangentProp`).
NO_XLA = {"tangent_bp_forward"}


# ---------------------------------------------------------------- settings


def _workload(model_kind, quick, batch=None):
    """(base builder, x, y, batch size, attack ε) of a model kind."""
    if model_kind == "mlp":
        batch = batch or (32 if quick else 128)
        x, y = _models.digits_mlp_data(batch)
        return _models.digits_mlp, x, y, batch, 0.1
    if model_kind == "spatial":
        batch = batch or (16 if quick else 64)
        x, y = _models.digits_images(8 if quick else 16)
        rows = min(len(x), 640) // batch * batch
        size = 8 if quick else 16
        return (lambda: _models.digits_cnn(size=size)), x[:rows], y[:rows], batch, 0.1
    batch = batch or (16 if quick else 128)
    x, y = _models.cifar_shaped_data(max(batch * 8, 512), quick=quick)
    batch_norm = model_kind != "cnn_nobn"
    return (lambda: _models.resnet_cnn(quick=quick, batch_norm=batch_norm)), x, y, batch, 8 / 255


def _compile(model, jit, steps_per_execution=1):
    model.compile(
        optimizer=keras.optimizers.SGD(0.01, momentum=0.9),
        loss=_models.SCCE,
        jit_compile=jit,
        steps_per_execution=steps_per_execution,
    )
    return model


def _jit_settings(value):
    return {"off": [False], "on": [True], "both": [False, True]}[value]


def _log(quiet):
    return None if quiet else (lambda m: print(m, flush=True))


def _time_models(builders, x, y, batch, jit, args):
    """Builds, warms up and times `builders` ({name: () -> model})."""
    models = {}
    for name, build in builders.items():
        start = time.perf_counter()
        models[name] = _compile(build(), jit)
        protocol.warm_up(models[name], x, y, batch)
        if not args.quiet:
            print(f"compiled {name} ({time.perf_counter() - start:.1f} s)", flush=True)
    times = protocol.round_robin(
        models, x, y, batch, args.steps, args.rounds, log=None
    )
    return protocol.summarize(times)


# ------------------------------------------------------------ step suites


def _method_suite(registry, model_kind, args):
    make_base, x, y, batch, _ = _workload(model_kind, args.quick)
    names = [n for n in (args.methods or registry)
             if n in registry or n in _floors.FLOOR_METHODS]
    if "plain" not in names:
        names.insert(0, "plain")
    results = {}
    for jit in _jit_settings(args.jit):
        chosen = [n for n in names if not (jit and n in NO_XLA)]
        builders = {n: (lambda n=n: registry[n]["build"](make_base())) for n in chosen}
        results["xla" if jit else "no_xla"] = _time_models(builders, x, y, batch, jit, args)
    return {"batch_size": batch, "model": model_kind, "results": results}


def _method_markdown(registry, payload, title):
    out = []
    for setting, summary in payload["results"].items():
        out.append(f"**{title}**, batch {payload['batch_size']}, "
                   f"{'jit_compile=True' if setting == 'xla' else 'no XLA'}\n")
        rows = []
        for name, entry in summary.items():
            goal = registry[name]["goal"]
            if isinstance(goal, tuple):
                goal = goal[setting == "xla"]
            rows.append([name, registry[name]["label"], f"{entry['ms']:.1f}",
                         protocol.fmt_ratio(entry), protocol.fmt_cpu(entry),
                         protocol.goal_mark(entry["ratio"], goal)])
        for num, den, goal in _methods.RELATIVE_GOALS:
            if num in summary and den in summary:
                ratio = summary[num]["ms"] / summary[den]["ms"]
                cpu = ""
                if "cpu_ms" in summary[num]:
                    cpu = f"{summary[num]['cpu_ms'] / summary[den]['cpu_ms']:.2f}"
                rows.append([f"{num} / {den}", "", "", f"{ratio:.2f}", cpu,
                             protocol.goal_mark(ratio, goal)])
        out.append(protocol.markdown_table(
            ["method", "what", "ms/step", "× plain [round range]", "CPU × plain", "goal"],
            rows))
        out.append("")
    return "\n".join(out)


# ------------------------------------------------------------------ floors


def floors_suite(args):
    model_kind = args.model or "cnn"
    make_base, x, y, batch, epsilon = _workload(model_kind, args.quick)
    registry = _methods.CNN if model_kind.startswith("cnn") else (
        _methods.SPATIAL if model_kind == "spatial" else _methods.MLP)
    kinds = dict(_floors.FLOOR_OF)
    if model_kind == "spatial":
        kinds["tangent_bp_linearised"] = "tangent_bp_linearised"
    else:
        kinds["loss_ibp_forward_over_reverse"] = "loss_ibp_forward_over_reverse"
        kinds.pop("tangent_bp", None) if model_kind == "mlp" else None
    if args.methods:
        kinds = {k: v for k, v in kinds.items()
                 if k == "plain" or k in args.methods or "floor_" + k in args.methods}
    results = {}
    for jit in _jit_settings(args.jit):
        builders = {}
        for name, kind in kinds.items():
            if name in registry:
                builders[name] = lambda name=name: registry[name]["build"](make_base())
            builders["floor_" + kind] = lambda kind=kind: _floors.FloorModel(
                make_base(), kind, epsilon=epsilon)
        results["xla" if jit else "no_xla"] = _time_models(builders, x, y, batch, jit, args)
    return {"batch_size": batch, "model": model_kind, "results": results}


def floors_markdown(payload):
    out = []
    for setting, summary in payload["results"].items():
        out.append(f"**Floors** ({payload['model']}, batch {payload['batch_size']}, "
                   f"{'XLA' if setting == 'xla' else 'no XLA'}): bare-tape floor vs package\n")
        rows = []
        for name, kind in _floors.FLOOR_OF.items():
            floor = summary.get("floor_" + kind)
            if name == "plain" or floor is None:
                continue
            package = summary.get(name)
            gap = "" if package is None else f"{package['ratio'] / floor['ratio']:.2f}"
            cpu_gap = ""
            if package is not None and "cpu_ratio" in package:
                cpu_gap = f"{package['cpu_ratio'] / floor['cpu_ratio']:.2f}"
            rows.append([name, "" if package is None else protocol.fmt_ratio(package),
                         protocol.fmt_ratio(floor), gap, cpu_gap])
        for name, alternatives in _floors.ALTERNATIVES.items():
            for kind in alternatives:
                floor = summary.get("floor_" + kind)
                if floor is not None and name in summary:
                    label = kind.replace(name + "_", "").replace("_", "-")
                    rows.append([f"{name} ({label} floor)",
                                 protocol.fmt_ratio(summary[name]), protocol.fmt_ratio(floor),
                                 f"{summary[name]['ratio'] / floor['ratio']:.2f}", ""])
        out.append(protocol.markdown_table(
            ["method", "package × plain", "floor × plain", "gap (package / floor)",
             "CPU-time gap"], rows))
        out.append("")
    return "\n".join(out)


# ----------------------------------------------------------------- scaling


def _slope(xs, ys):
    """Least-squares slope of ys on xs."""
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    return sum((a - mx) * (b - my) for a, b in zip(xs, ys)) / sum((a - mx) ** 2 for a in xs)


def scaling_suite(args):
    model_kind = args.model or "cnn"
    make_base, x, y, batch, _ = _workload(model_kind, args.quick)
    jit = _jit_settings(args.jit)[-1]
    ks = [1, 2] if args.quick else [1, 2, 4, 8]
    noise = ki.perturbations.GaussianNoise(0.1)
    groups = {}

    def irl(**kw):
        stddev = noise.stddev.numpy()
        return lambda: ki.IRL(make_base(), perturbation=ki.perturbations.GaussianNoise(stddev),
                              **kw)

    families = [f for f in ("irl", "vat") if not args.methods or f in args.methods]
    builders = {"plain": make_base}
    if "irl" in families:
        builders.update({f"irl_k{k}": irl(num_samples=k) for k in ks})
    if "vat" in families:
        builders.update({f"vat_k{k}": (lambda k=k: ki.VAT(make_base(), power_iterations=k))
                         for k in ks})
    groups["samples"] = _time_models(builders, x, y, batch, jit, args)

    taps = list(_models.RESNET_TAPS) if model_kind == "cnn" else ["hidden_1", "hidden_2", "logits"]
    counts = [1, len(taps)] if args.quick else list(range(1, len(taps) + 1))
    if "irl" in families:
        builders = {"plain": make_base}
        builders.update({f"irl_layers{c}": irl(layers=taps[-c:]) for c in counts})
        groups["layers"] = _time_models(builders, x, y, batch, jit, args)

    batches = [16] if args.quick else [32, 64, 128, 256, 512]
    per_batch = {}
    for b in batches:
        if model_kind == "mlp":
            bx, by = _models.digits_mlp_data(b)
            reps = max(1, (b * (args.steps + 2)) // len(bx) + 1)
            bx, by = np.concatenate([bx] * reps), np.concatenate([by] * reps)
        else:
            bx, by = _models.cifar_shaped_data(b * (args.steps + 2), quick=args.quick)
        builders = {"plain": make_base}
        if "irl" in families:
            builders["irl_k1"] = irl()
        if "vat" in families:
            builders["vat_k1"] = lambda: ki.VAT(make_base())
        per_batch[b] = _time_models(builders, bx, by, b, jit, args)
    groups["batch"] = {str(b): s for b, s in per_batch.items()}

    fits = {}
    plain_ms = groups["samples"]["plain"]["ms"]
    for family, key in (("irl", "irl_per_extra_k"), ("vat", "vat_per_extra_iteration")):
        if family in families:
            fits[key] = _slope(
                ks, [groups["samples"][f"{family}_k{k}"]["ms"] for k in ks]) / plain_ms
    if "layers" in groups:
        fits["irl_per_extra_layer"] = _slope(
            counts, [groups["layers"][f"irl_layers{c}"]["ms"] for c in counts]
        ) / groups["layers"]["plain"]["ms"]
    return {"batch_size": batch, "model": model_kind, "xla": jit, "ks": ks,
            "layer_counts": counts, "taps": taps, "batches": batches,
            "families": families, "results": groups, "slopes_in_plain_steps": fits}


def scaling_markdown(p):
    g, s, fam = p["results"], p["slopes_in_plain_steps"], p["families"]

    def cell(group, name):
        return protocol.fmt_ratio(group[name]) if name in group else "–"

    out = [f"**Scaling** ({p['model']}, batch {p['batch_size']}, "
           f"{'XLA' if p['xla'] else 'no XLA'}): × plain [round range]\n"]
    rows = [[f"K = {k}", cell(g["samples"], f"irl_k{k}"), cell(g["samples"], f"vat_k{k}")]
            for k in p["ks"]]
    rows.append(["cost of one more K (plain steps)",
                 f"{s['irl_per_extra_k']:.2f} (ideal 1.00)" if "irl" in fam else "–",
                 f"{s['vat_per_extra_iteration']:.2f} (ideal 0.67)" if "vat" in fam else "–"])
    out.append(protocol.markdown_table(
        ["K (IRL copies / VAT power iterations)", "IRL", "VAT"], rows))
    out.append("")
    if "layers" in g:
        rows = [[f"{c} ({', '.join(p['taps'][-c:])})",
                 protocol.fmt_ratio(g["layers"][f"irl_layers{c}"])]
                for c in p["layer_counts"]]
        rows.append(["cost of one more layer (plain steps)",
                     f"{s['irl_per_extra_layer']:.3f} (ideal ≈ 0)"])
        out.append(protocol.markdown_table(["IRL tapped layers", "IRL K=1"], rows))
        out.append("")
    rows = []
    for b in p["batches"]:
        e = g["batch"][str(b)]
        rows.append([str(b), f"{e['plain']['ms']:.1f}", f"{1e3 * e['plain']['ms'] / b:.1f}",
                     cell(e, "irl_k1"), cell(e, "vat_k1")])
    out.append(protocol.markdown_table(
        ["batch", "plain ms/step", "plain µs/example", "IRL K=1", "VAT"], rows))
    out.append("")
    return "\n".join(out)


# ------------------------------------------------------------------ memory


def memory_child(args):
    """In a fresh process: the allocator peak of a few steps of one method."""
    model_kind = args.model or "cnn"
    make_base, x, y, batch, epsilon = _workload(model_kind, args.quick)
    registry = {"cnn": _methods.CNN, "mlp": _methods.MLP, "spatial": _methods.SPATIAL}[model_kind]
    name = args.memory_child
    if name.startswith("floor_"):
        # The same passes with bare tapes (_floors.py): the formulation's own peak.
        model = _floors.FloorModel(make_base(), name[len("floor_"):], epsilon=epsilon)
    else:
        model = registry[name]["build"](make_base())
    model = _compile(model, args.jit == "on")
    protocol.warm_up(model, x, y, batch)
    measured = protocol.allocator_peak_during(
        lambda: protocol.fit_steps(model, x, y, batch, args.steps))
    print("MEMORY " + __import__("json").dumps(measured), flush=True)


def memory_suite(args):
    model_kind = args.model or "cnn"
    registry = {"cnn": _methods.CNN, "mlp": _methods.MLP, "spatial": _methods.SPATIAL}[model_kind]
    names = [n for n in (args.methods or registry)
             if n in registry or n in _floors.FLOOR_METHODS]
    if "plain" not in names:
        names.insert(0, "plain")
    results = {}
    for jit in _jit_settings(args.jit):
        summary = {}
        for name in names:
            if jit and name in NO_XLA:
                continue
            child = ["--suite", "memory", "--memory-child", name, "--model", model_kind,
                     "--steps", str(args.steps), "--jit", "on" if jit else "off"]
            if args.quick:
                child.append("--quick")
            summary[name] = protocol.peak_memory_in_subprocess(os.path.abspath(__file__), child)
            if not args.quiet:
                print(f"  {name}: peak {summary[name]['peak'] / 2**20:.1f} MiB", flush=True)
        plain = summary["plain"]
        for entry in summary.values():
            entry["peak_ratio"] = entry["peak"] / plain["peak"]
            step, plain_step = entry["peak"] - entry["resident"], plain["peak"] - plain["resident"]
            entry["step_ratio"] = step / plain_step if plain_step > 0 else float("nan")
        results["xla" if jit else "no_xla"] = summary
    return {"model": model_kind, "results": results}


#: Memory goals (issue 15): IRL K=1 ≤ 2×, derivative penalties ≤ 2.5×.
MEMORY_GOALS = {"irl_k1": 2.0, "loss_ibp": 2.5, "prediction_ibp": 2.5, "jacobian_proj1": 2.5,
                "jacobian_exact": 2.5, "vat": 2.5, "tangent_bp": 2.5, "fast_tangent_bp": 2.5}


def memory_markdown(payload):
    registry = {"cnn": _methods.CNN, "mlp": _methods.MLP,
                "spatial": _methods.SPATIAL}[payload["model"]]
    out = []
    for setting, summary in payload["results"].items():
        src = next(iter(summary.values()))["source"]
        out.append(f"**Peak memory** ({payload['model']}, {src}, "
                   f"{'XLA' if setting == 'xla' else 'no XLA'})\n")
        rows = []
        for name, e in summary.items():
            label = (registry[name]["label"] if name in registry
                     else "bare-tape floor (benchmarks/_floors.py)")
            rows.append([name, label, f"{e['peak'] / 2**20:.1f}",
                         f"{(e['peak'] - e['resident']) / 2**20:.1f}", f"{e['peak_ratio']:.2f}",
                         f"{e['step_ratio']:.2f}",
                         protocol.goal_mark(e["step_ratio"], MEMORY_GOALS.get(name))])
        out.append(protocol.markdown_table(
            ["method", "what", "peak MiB", "step MiB (peak − resident)", "peak × plain",
             "step × plain", "goal (step)"], rows))
        out.append("")
    return "\n".join(out)


# ----------------------------------------------------------------- kernels


def kernels_suite(args):
    model_kind = args.model or "cnn"
    make_base, x, y, batch, _ = _workload(model_kind, args.quick)
    registry = {"cnn": _methods.CNN, "cnn_nobn": _methods.CNN, "mlp": _methods.MLP,
                "spatial": _methods.SPATIAL}[model_kind]
    names = [n for n in (args.methods or registry)
             if n in registry or n in _floors.FLOOR_METHODS]
    if "plain" not in names:
        names.insert(0, "plain")
    summary = {}
    for name in names:
        model = _compile(registry[name]["build"](make_base()), False)
        protocol.fit_steps(model, x, y, batch, 1)
        summary[name] = _kernels.step_kernels(model, x, y, batch)
        keras.backend.clear_session()
    plain = summary["plain"]
    for entry in summary.values():
        entry["conv_ratio"] = entry["conv_flops"] / plain["conv_flops"]
    return {"batch_size": batch, "model": model_kind, "results": {"graph": summary}}


def kernels_markdown(payload):
    registry = {"cnn": _methods.CNN, "cnn_nobn": _methods.CNN, "mlp": _methods.MLP,
                "spatial": _methods.SPATIAL}[payload["model"]]
    rows = []
    for name, e in payload["results"]["graph"].items():
        nested = f" (+{e['unmatched']} unmatched)" if e["unmatched"] else ""
        rows.append([name, registry[name]["label"], f"{e['conv_kernels']}{nested}",
                     f"{e['conv_flops'] / 1e9:.2f}", f"{e['conv_ratio']:.2f}"])
    return (f"**Convolution work per step** ({payload['model']}, batch "
            f"{payload['batch_size']}, traced TensorFlow graph)\n\n"
            + protocol.markdown_table(
                ["method", "what", "conv kernels", "conv GFLOP", "conv FLOPs × plain"], rows)
            + "\n")


# ---------------------------------------------------------------- overhead


def _bare_loop_seconds(make_base, x, y, batch, steps, jit):
    """Median step of a bare `tf.function` loop (no Keras trainer)."""
    import tensorflow as tf

    model = make_base()
    optimizer = keras.optimizers.SGD(0.01, momentum=0.9)
    optimizer.build(model.trainable_variables)

    @tf.function(jit_compile=jit)
    def step(xb, yb):
        with tf.GradientTape() as tape:
            loss = _models.SCCE(yb, model(xb, training=True))
        optimizer.apply(tape.gradient(loss, model.trainable_variables), model.trainable_variables)
        return loss

    batches = [(tf.constant(x[i:i + batch]), tf.constant(y[i:i + batch]))
               for i in range(0, len(x) - batch + 1, batch)]
    for xb, yb in batches[:2]:
        float(step(xb, yb))
    times = []
    for i in range(steps):
        xb, yb = batches[i % len(batches)]
        start = time.perf_counter()
        float(step(xb, yb))
        times.append(time.perf_counter() - start)
    return times


def overhead_suite(args):
    model_kind = args.model or "mlp"
    make_base, x, y, batch, _ = _workload(model_kind, args.quick)
    results = {}
    for jit in _jit_settings(args.jit):
        models = {
            "plain": _compile(make_base(), jit),
            "invariant_model": _compile(ki.InvariantModel(make_base()), jit),
            "plain_spe10": _compile(make_base(), jit, steps_per_execution=10),
            "invariant_model_spe10": _compile(ki.InvariantModel(make_base()), jit,
                                              steps_per_execution=10),
        }
        for m in models.values():
            protocol.fit_steps(m, x, y, batch, 20 if not args.quick else 2)
        epoch_steps = len(x) // batch
        times = {n: [] for n in list(models) + ["bare_tf_function"]}
        for _ in range(args.rounds):
            for name, m in models.items():
                start = time.perf_counter()
                m.fit(x, y, batch_size=batch, epochs=1, verbose=0, shuffle=False)
                # Whole-epoch time / steps: steps_per_execution hides steps from callbacks.
                times[name].append([(time.perf_counter() - start) / epoch_steps])
            times["bare_tf_function"].append(
                _bare_loop_seconds(make_base, x, y, batch, args.steps * 5, jit))
        results["xla" if jit else "no_xla"] = protocol.summarize(times)
    return {"batch_size": batch, "model": model_kind, "results": results,
            "note": "fit() times are whole epochs / steps (includes the per-epoch setup)"}


def overhead_markdown(payload):
    labels = {
        "plain": "keras.Model.fit (per step, whole epoch / steps)",
        "invariant_model": "ki.InvariantModel(base, alpha=1).fit",
        "plain_spe10": "keras fit, steps_per_execution=10",
        "invariant_model_spe10": "ki.InvariantModel fit, steps_per_execution=10",
        "bare_tf_function": "bare tf.function step (GradientTape + optimizer.apply)",
    }
    out = []
    for setting, summary in payload["results"].items():
        out.append(f"**Per-step overhead** ({payload['model']}, batch {payload['batch_size']}, "
                   f"{'XLA' if setting == 'xla' else 'no XLA'})\n")
        rows = [[labels[n], f"{e['ms']:.2f}", protocol.fmt_ratio(e)] for n, e in summary.items()]
        out.append(protocol.markdown_table(["how", "ms/step", "× keras fit"], rows))
        out.append("")
    return "\n".join(out)


# -------------------------------------------------------------------- main


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suite", choices=SUITES, required=True)
    parser.add_argument("--jit", nargs="?", const="on", default=None,
                        choices=("off", "on", "both"),
                        help="compile(jit_compile=...): --jit alone means on")
    parser.add_argument("--quick", action="store_true", help="tiny models, a few steps")
    parser.add_argument("--rounds", type=int, default=None, help="round-robin rounds")
    parser.add_argument("--steps", type=int, default=None, help="timed steps per round")
    parser.add_argument("--model", choices=("cnn", "cnn_nobn", "mlp", "spatial"), default=None,
                        help="model of the scaling / memory / floors / overhead / kernels suites")
    parser.add_argument("--methods", nargs="*", default=None)
    parser.add_argument("--json", default=None)
    parser.add_argument("--markdown", default=None)
    parser.add_argument("--quiet", action="store_true")
    parser.add_argument("--memory-child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.jit is None:
        args.jit = "on" if args.suite == "spatial" else "off"
    default_rounds, default_steps = (1, 2) if args.quick else (3, 5)
    args.rounds = args.rounds or default_rounds
    args.steps = args.steps or default_steps
    if args.memory_child:
        return memory_child(args)

    start = time.perf_counter()
    machine = protocol.machine()
    if args.suite in ("mlp", "cnn", "spatial"):
        registry = {"mlp": _methods.MLP, "cnn": _methods.CNN,
                    "spatial": _methods.SPATIAL}[args.suite]
        payload = _method_suite(registry, args.suite, args)
        title = {"mlp": "MLP 64→256→256→10, digits", "cnn": "ResNet-8, 32×32×3 synthetic",
                 "spatial": "16×16 digits CNN"}[args.suite]
        markdown = _method_markdown(registry, payload, title)
    elif args.suite == "floors":
        payload = floors_suite(args)
        markdown = floors_markdown(payload)
    elif args.suite == "scaling":
        payload = scaling_suite(args)
        markdown = scaling_markdown(payload)
    elif args.suite == "memory":
        payload = memory_suite(args)
        markdown = memory_markdown(payload)
    elif args.suite == "kernels":
        payload = kernels_suite(args)
        markdown = kernels_markdown(payload)
    else:
        payload = overhead_suite(args)
        markdown = overhead_markdown(payload)
    payload.update({
        "suite": args.suite, "machine": machine, "rounds": args.rounds,
        "steps_per_round": args.steps, "quick": args.quick,
        "load_average_end": list(os.getloadavg()),
        "seconds": time.perf_counter() - start,
    })
    header = (f"<!-- {args.suite}: {machine['cpu']}, {machine['cores']} cores, TF "
              f"{machine['tensorflow']}, Keras {machine['keras']}, {args.rounds} rounds × "
              f"{args.steps} steps, load {machine['load_average'][0]:.1f}–"
              f"{payload['load_average_end'][0]:.1f} -->\n")
    print(header + markdown)
    protocol.write_json(args.json, payload)
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write(header + markdown + "\n")
    return payload


if __name__ == "__main__":
    main()
