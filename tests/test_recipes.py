"""Smoke tests of the paper-reproduction recipes in `recipes/`.

Each recipe's `main([...])` runs in-process on scikit-learn's digits at a
tiny size (one epoch, 128 training and 64 test examples) and must print
its table and write a `results.json` with one row per method and a number
in [0, 100] in every column. A TFDS dataset whose data is not prepared must
stop with a message saying how to prepare it.
"""

import json
import math
import os
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from recipes import _common  # noqa: E402
from recipes import ibp_adversarial  # noqa: E402
from recipes import irl_cifar  # noqa: E402
from recipes import spatial_invariance  # noqa: E402

TINY = ["--dataset", "digits", "--epochs", "1", "--train-size", "128",
        "--test-size", "64", "--quiet"]


def _check(results, out_dir, methods, capsys):
    printed = capsys.readouterr().out
    with open(os.path.join(out_dir, "results.json")) as f:
        saved = json.load(f)
    assert saved["columns"] == results["columns"]
    assert [row["method"] for row in saved["rows"]] == methods
    for row in saved["rows"]:
        for column in saved["columns"]:
            value = row[column]
            assert math.isfinite(value) and 0.0 <= value <= 100.0, (row, column)
    assert saved["table"] in printed
    for method in methods:
        assert method in printed
    assert saved["config"]["dataset"] == "digits"
    return saved


def test_irl_cifar_rows():
    # The default rows: plain, then the three noisy rows of the main job
    # (`keras_invariance.integrations.cli.METHODS`) per noise. Trained below for one noise
    # only, to keep the smoke tests short.
    args = irl_cifar.parse_args(["--dataset", "digits"])
    assert [m.name for m in irl_cifar.irl_methods(args)] == [
        "plain",
        "data augmentation (in.)", "data augmentation (out.)",
        "IRL batching (in.)", "IRL batching (out.)",
        "IRL loss (in.)", "IRL loss (out.)",
    ]


def test_irl_cifar_digits(tmp_path, capsys):
    out = str(tmp_path / "irl")
    results = irl_cifar.main(
        TINY + ["--output-dir", out, "--fgsm-epsilons", "0.2", "--noises", "out"])
    saved = _check(results, out, [
        "plain", "data augmentation (out.)", "IRL batching (out.)", "IRL loss (out.)",
    ], capsys)
    assert saved["columns"] == [
        "clean err %", "in. err %", "out. err %", "ε=0.2 err %"]
    # WRN-10-1 has 3 blocks: the IRL loss taps all of them and the logits.
    assert saved["blocks"] == ["block_1", "block_2", "block_3"]
    assert sorted(saved["config"]["layers"]) == [
        "block_1", "block_2", "block_3", "logits"]


def test_ibp_adversarial_digits(tmp_path, capsys):
    out = str(tmp_path / "ibp")
    results = ibp_adversarial.main(
        TINY + ["--output-dir", out, "--eval-epsilons", "0.05", "0.1"])
    saved = _check(results, out, [
        "standard BP", "Loss IBP", "Prediction IBP", "fast AT", "FGSM AT",
    ], capsys)
    assert saved["columns"] == ["clean err %", "ε=0.05 err %", "ε=0.1 err %"]
    for row in saved["rows"]:
        # FGSM at the larger ε is a stronger attack on the same model.
        assert row["ε=0.1 err %"] >= row["clean err %"] - 1e-9


def test_spatial_invariance_digits(tmp_path, capsys):
    out = str(tmp_path / "spatial")
    results = spatial_invariance.main(
        TINY + ["--output-dir", out, "--grid", "3", "3", "3",
                "--modes", "da", "da_kl", "at", "at_kl", "at_l2"])
    saved = _check(results, out, ["D.A.", "D.A.+KL", "A.T.", "A.T.+KL", "A.T.+L2"],
                   capsys)
    assert saved["columns"] == ["std acc %", "random acc %", "grid acc % (27)"]
    for row in saved["rows"]:
        # The grid includes the identity, so it is never above clean accuracy.
        assert row["grid acc % (27)"] <= row["std acc %"] + 1e-9


@pytest.mark.parametrize("recipe", [irl_cifar, spatial_invariance])
def test_missing_tfds_data_says_how_to_prepare(recipe, tmp_path):
    data_dir = str(tmp_path / "tfds")
    os.makedirs(data_dir)
    with pytest.raises(_common.DataNotPreparedError) as info:
        recipe.main(["--dataset", "cifar10", "--data-dir", data_dir,
                     "--output-dir", str(tmp_path / "out")])
    message = str(info.value)
    assert "CIFAR-10 is not prepared in " + data_dir in message
    assert f"tfds build cifar10 --data_dir {data_dir}" in message
    assert "--dataset digits" in message
    assert "Traceback" not in message
    assert not os.path.exists(tmp_path / "out" / "results.json")
