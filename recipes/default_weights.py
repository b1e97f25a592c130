"""The study behind the presets' default weights: every preset, four model families.

Trains each preset with its default arguments on an MLP (scikit-learn
digits), a CNN with BatchNorm (digits images), a 1-D convolution (the
`mnist1d` generator) and a recurrent token model (generated sequences), and
prints clean and noisy test accuracy per preset and seed next to plain
training. A default "transfers" when its clean accuracy stays within 2
points of plain on every family. `--weight NAME=VALUE` overrides one
preset's `weight` to scan alternatives.

Usage:
    python recipes/default_weights.py --families mlp conv1d --seeds 0 1 2
    python recipes/default_weights.py --presets irl_loss --weight irl_loss=0.3
"""

import argparse
import json
import os
import statistics
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from recipes import model_families as mf  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--families", nargs="+", default=list(mf.FAMILIES))
    parser.add_argument("--presets", nargs="+", default=None)
    parser.add_argument("--seeds", nargs="+", type=int, default=[0])
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--train", type=int, default=None, help="training rows")
    parser.add_argument("--weight", action="append", default=[],
                        help="NAME=VALUE: override a preset's weight")
    parser.add_argument("--json", default=None)
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    overrides = dict(w.split("=") for w in args.weight)
    rows = []
    for family in args.families:
        for seed in args.seeds:
            data = mf.family_data(family, seed=seed, train=args.train)
            builders = mf.presets(family, data[2])
            names = args.presets or list(builders)
            if "plain" not in names:
                names = ["plain"] + names
            for name in names:
                build = builders[name]
                if name in overrides:
                    value = float(overrides[name])

                    def build(b, _b=builders[name], _v=value):  # noqa: E306
                        model = _b(b)
                        model.penalties[0].weight.assign(_v)
                        return model

                start = time.perf_counter()
                model = mf.train(build, family, data, args.epochs, seed=seed)
                clean, noisy = mf.evaluate(model, family, data, seed=seed)
                rows.append(dict(family=family, seed=seed, preset=name, clean=clean,
                                 noisy=noisy, seconds=time.perf_counter() - start))
                print(f"{family:<11} seed {seed} {name:<22} clean {clean:.4f} "
                      f"noisy {noisy:.4f} ({rows[-1]['seconds']:.0f} s)", flush=True)
    print()
    print(f"{'family':<11} {'preset':<22} {'clean':>7} {'Δ plain':>8} {'noisy':>7}")
    for family in args.families:
        plain = statistics.mean(
            r["clean"] for r in rows if r["family"] == family and r["preset"] == "plain"
        )
        for name in dict.fromkeys(r["preset"] for r in rows if r["family"] == family):
            mine = [r for r in rows if r["family"] == family and r["preset"] == name]
            clean = statistics.mean(r["clean"] for r in mine)
            noisy = statistics.mean(r["noisy"] for r in mine)
            print(f"{family:<11} {name:<22} {clean:7.4f} {100 * (clean - plain):+8.2f} {noisy:7.4f}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)
    return rows


if __name__ == "__main__":
    main()
