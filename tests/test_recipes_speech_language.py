"""Smoke tests of the speech (Table 3) and language-model (Table 2) recipes.

Each recipe's `main([...])` runs in-process at a tiny size on its embedded
data (synthetic keywords; Python's `pydoc_data.topics`), prints its table
and writes `results.json`; local-file and TFDS modes without data stop with
a message saying how to prepare it.
"""

import json
import math
import os
import sys

import numpy as np
import pytest
import tensorflow as tf

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from recipes import _common  # noqa: E402
from recipes import irl_language_model  # noqa: E402
from recipes import irl_speech  # noqa: E402

TINY_LM = ["--epochs", "1", "--train-size", "48", "--test-size", "8",
           "--embedding-dim", "16", "--hidden-units", "16", "--bptt", "12",
           "--batch-size", "16", "--quiet"]
TINY_SPEECH = ["--dataset", "synthetic", "--epochs", "1", "--per-word", "4",
               "--width", "8", "--batch-size", "20", "--quiet"]


def _saved(out_dir, results, capsys):
    printed = capsys.readouterr().out
    with open(os.path.join(out_dir, "results.json")) as f:
        saved = json.load(f)
    assert saved["columns"] == results["columns"]
    assert saved["table"] in printed
    return saved


def test_language_model_embedded(tmp_path, capsys):
    out = str(tmp_path / "lm")
    results = irl_language_model.main(
        ["--dataset", "embedded", "--noises", "blank", "--output-dir", out] + TINY_LM)
    saved = _saved(out, results, capsys)
    assert [r["method"] for r in saved["rows"]] == [
        "plain", "data augmentation (blank)", "IRL batching (blank)", "IRL loss (blank)"]
    assert saved["columns"] == ["val ppl", "test ppl"]
    for row in saved["rows"]:
        for column in saved["columns"]:
            # An untrained model is near uniform: perplexity ≈ the vocabulary.
            assert 1.0 < row[column] < 2 * saved["vocabulary"], (row, column)
    assert saved["tokens"]["train"] > 30000 and saved["source"].startswith("pydoc_data")
    assert saved["windows"] == {"train": 48, "valid": 8, "test": 8}


def test_language_model_ptb_files_and_missing_data(tmp_path, capsys):
    data = tmp_path / "ptb"
    data.mkdir()
    rng = np.random.default_rng(0)
    words = ["the", "cat", "sat", "on", "mat", "<unk>", "N"]
    for split, lines in (("train", 60), ("valid", 10), ("test", 10)):
        text = "\n".join(" ".join(rng.choice(words, 8)) for _ in range(lines))
        (data / f"ptb.{split}.txt").write_text(text + "\n")
    out = str(tmp_path / "out")
    results = irl_language_model.main(
        ["--dataset", "ptb", "--data-dir", str(data), "--noises", "unigram",
         "--optimizer", "sgd", "--learning-rate", "1.0", "--dropout", "0.0",
         "--epochs", "1", "--embedding-dim", "16", "--hidden-units", "16",
         "--bptt", "12", "--batch-size", "16", "--quiet", "--output-dir", out])
    saved = _saved(out, results, capsys)
    assert saved["vocabulary"] == 8  # <eos>, <unk>, N and five words
    assert saved["tokens"]["train"] == 60 * 9
    with pytest.raises(_common.DataNotPreparedError, match="ptb.train.txt not found"):
        irl_language_model.main(["--dataset", "ptb", "--data-dir", str(tmp_path)])
    with pytest.raises(_common.DataNotPreparedError, match="--data-dir DIR"):
        irl_language_model.main(["--dataset", "wikitext2"])


def test_language_model_corpus_helpers():
    assert irl_language_model.tokenize("It's 42 cats. Yes!") == [
        "it's", "N", "cats", "<eos>", "yes", "<eos>"]
    vocab = irl_language_model.vocabulary("b a b c b a".split(), size=3, min_count=1)
    assert vocab == {"<eos>": 0, "<unk>": 1, "b": 2}
    x, y = irl_language_model.windows(list("abcabca"), {"a": 0, "b": 1, "<unk>": 2}, 3,
                                      None, np.random.default_rng(0))
    np.testing.assert_array_equal(x, [[0, 1, 2], [0, 1, 2]])
    np.testing.assert_array_equal(y, [[1, 2, 0], [1, 2, 0]])
    paragraphs = irl_language_model.embedded_paragraphs()
    assert len(paragraphs) > 1000 and not any(p.startswith(">>>") for p in paragraphs)


def test_speech_synthetic(tmp_path, capsys):
    out = str(tmp_path / "speech")
    results = irl_speech.main(TINY_SPEECH + ["--output-dir", out])
    saved = _saved(out, results, capsys)
    assert [r["method"] for r in saved["rows"]] == [
        "regular", "data augmentation", "IRL batching", "IRL loss"]
    assert saved["columns"] == irl_speech.NOISE_COLUMNS + [irl_speech.DISTANCE_COLUMN]
    for row in saved["rows"]:
        for column in irl_speech.NOISE_COLUMNS:
            assert 0.0 <= row[column] <= 100.0, (row, column)
        assert (math.isfinite(row[irl_speech.DISTANCE_COLUMN])
                and row[irl_speech.DISTANCE_COLUMN] >= 0)
    # The noise bank went through WAV files, as MUSAN's would.
    assert sorted(os.listdir(os.path.join(out, "noise_bank"))) == ["test", "train"]
    assert len(os.listdir(os.path.join(out, "noise_bank", "train"))) == 8


def test_speech_with_a_noise_folder_and_missing_tfds_data(tmp_path, capsys):
    noise = tmp_path / "musan" / "noise"
    noise.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i in range(5):
        clip = (0.1 * rng.normal(size=(4000, 1))).astype("float32")
        tf.io.write_file(str(noise / f"n{i}.wav"), tf.audio.encode_wav(clip, 16000))
    args = irl_speech.parse_args(["--dataset", "synthetic", "--noise-dir", str(noise)])
    train, held_out = irl_speech.noise_banks(args)
    assert [os.path.basename(f) for f in held_out] == ["n4.wav"]
    assert len(train) == 4 and not set(train) & set(held_out)
    data_dir = str(tmp_path / "tfds")
    os.makedirs(data_dir)
    with pytest.raises(_common.DataNotPreparedError) as info:
        irl_speech.main(["--dataset", "speech_commands", "--data-dir", data_dir,
                         "--output-dir", str(tmp_path / "out")])
    assert f"tfds build speech_commands --data_dir {data_dir}" in str(info.value)
    assert "--dataset synthetic" in str(info.value)


def test_speech_commands_path_on_mocked_tfds(tmp_path, capsys):
    # The full-scale path (TFDS stream, int16 → float, padding to the clip
    # length, 12 classes) on TFDS's mock data: random clips of random length.
    import tensorflow_datasets as tfds

    out = str(tmp_path / "sc")
    with tfds.testing.mock_data(num_examples=12):
        results = irl_speech.main(
            ["--dataset", "speech_commands", "--download", "--epochs", "1",
             "--width", "8", "--batch-size", "12", "--seconds", "0.5", "--quiet",
             "--output-dir", out])
    saved = _saved(out, results, capsys)
    assert len(saved["classes"]) == 12 and saved["classes"][-2:] == ["_silence_", "_unknown_"]
    assert all(0.0 <= row["clean"] <= 100.0 for row in saved["rows"])


def test_synthetic_keywords_are_deterministic_and_carry_high_band_cues():
    from keras_invariance.datasets import synthetic_speech

    x, y = synthetic_speech.synthetic_keywords(6, seconds=0.5, seed=3)
    again, y_again = synthetic_speech.synthetic_keywords(6, seconds=0.5, seed=3)
    np.testing.assert_array_equal(x, again)
    np.testing.assert_array_equal(y, y_again)
    assert np.bincount(y).tolist() == [6] * 10 and np.abs(x).max() <= 0.95
    spectrum = np.abs(np.fft.rfft(x, axis=1)) ** 2
    high = spectrum[:, np.fft.rfftfreq(x.shape[1], 1 / 16000) > 4000].sum(1) / spectrum.sum(1)
    words = list(synthetic_speech.KEYWORDS)
    # /s/ lives above 4 kHz (what telephony removes); "no" has nothing there.
    for word in ("yes", "stop"):
        assert high[y == words.index(word)].mean() > 0.03
    assert high[y == words.index("no")].mean() < 0.005
    with pytest.raises(ValueError, match="Unknown keywords"):
        synthetic_speech.synthetic_keywords(1, words=["maybe"])
