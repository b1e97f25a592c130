"""The study behind the presets' default weights: every preset, seven model families.

Trains each preset with its default arguments on an MLP (scikit-learn
digits), CNNs with BatchNorm and with GroupNorm (digits images), a 1-D
convolution and an attention block with LayerNorm (the `mnist1d`
generator), a recurrent and a bag-of-embeddings token model (generated
sequences), and prints clean and noisy test accuracy per preset and seed
next to plain training, with the *target ratio*: the term the preset
penalizes, on the test split, for its weights over plain's
(`model_families.target_ratio`). A default "transfers" when its clean
accuracy stays within 2 points of plain and its target ratio is at most 0.8
on every family. `--weight NAME=VALUE` overrides one preset's `weight` to
scan alternatives; `--converged` trains each family until plain training
converges (`model_families.CONVERGED_EPOCHS`) instead of 20 epochs.

Usage:
    python recipes/default_weights.py --families mlp conv1d --seeds 0 1 2
    python recipes/default_weights.py --presets irl_loss --weight irl_loss=0.3
    python recipes/default_weights.py --families cnn_gn --presets jacobian --converged
"""

import argparse
import json
import os
import statistics
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from recipes import model_families as mf  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--families", nargs="+", default=list(mf.FAMILIES), choices=mf.FAMILIES)
    parser.add_argument("--presets", nargs="+", default=None)
    parser.add_argument("--seeds", nargs="+", type=int, default=[0])
    parser.add_argument("--epochs", type=int, default=mf.EPOCHS)
    parser.add_argument("--converged", action="store_true",
                        help="train each family for model_families.CONVERGED_EPOCHS")
    parser.add_argument("--train", type=int, default=None, help="training rows")
    parser.add_argument("--weight", action="append", default=[],
                        help="NAME=VALUE: override a preset's weight")
    parser.add_argument("--json", default=None)
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    overrides = dict(w.split("=") for w in args.weight)
    rows = []

    def log(family, seed, name, result):
        rows.append(dict(family=family, seed=seed, preset=name, **result))
        ratio = result["target_ratio"]
        shown = "" if ratio is None else f" target ×{ratio:.2f}"
        print(f"{family:<12} seed {seed} {name:<22} clean {result['clean']:.4f} "
              f"noisy {result['noisy']:.4f}{shown} ({result['seconds']:.0f} s)", flush=True)

    for family in args.families:
        for seed in args.seeds:
            with mf.weight_overrides({k: float(v) for k, v in overrides.items()}):
                epochs = mf.CONVERGED_EPOCHS[family] if args.converged else args.epochs
                mf.study(family, epochs, seed, args.presets, log=log)
    print()
    print(f"{'family':<12} {'preset':<22} {'clean':>7} {'Δ plain':>8} {'noisy':>7} {'target':>7}")
    for family in args.families:
        plain = statistics.mean(
            r["clean"] for r in rows if r["family"] == family and r["preset"] == "plain"
        )
        for name in dict.fromkeys(r["preset"] for r in rows if r["family"] == family):
            mine = [r for r in rows if r["family"] == family and r["preset"] == name]
            clean = statistics.mean(r["clean"] for r in mine)
            noisy = statistics.mean(r["noisy"] for r in mine)
            ratios = [r["target_ratio"] for r in mine if r["target_ratio"] is not None]
            ratio = f"{statistics.mean(ratios):7.2f}" if ratios else f"{'':>7}"
            print(f"{family:<12} {name:<22} {clean:7.4f} {100 * (clean - plain):+8.2f} "
                  f"{noisy:7.4f} {ratio}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)
    return rows


if __name__ == "__main__":
    main()
