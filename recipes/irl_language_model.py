"""Reproduces the language-modelling experiment (Table 2) of "Invariant Representation Learning".

Paper: Salazar, Liang et al., "Invariant Representation Learning for Robust
Deep Networks" (2018), §3 "Language modeling" and Table 2: a word-level
two-layer LSTM language model (1500 units, the "large" model of Zaremba et
al., "Recurrent Neural Network Regularization", as in Xie et al., "Data
Noising as Smoothing in Neural Network Language Models") on Penn Treebank
and WikiText-2, trained with two noises on the context words w<t (each
replaced with probability p = 0.2): unigram (a draw from the training
unigram distribution, `ki.perturbations.UnigramNoise`) and blank (a placeholder "__",
`ki.perturbations.BlankNoise`). Rows, (α, β, γ):

    plain              (1, 0, 0)      no noise
    data augmentation  (0, 1, 0)      × unigram and blank
    IRL batching       (½, ½, 0)      × unigram and blank
    IRL loss           (½, ½, 1)      × unigram and blank; squared L2 on the
                                      last LSTM's hidden states and the
                                      logits, the paper's "L2 distance only"

The paper weighs both tapped layers with γ_{L−1} = γ_L = 1. The squared L2
distance sums over every time step and unit (35 × 1500 hidden values, 35 ×
the vocabulary of logits), and with γ_ℓ = 1 it dominated the cross-entropy:
on the embedded corpus the IRL loss (blank) model stayed at the unigram
perplexity (validation 314; 310 with γ_ℓ = 1/bptt; the unigram model's is
309), against 137 with γ_ℓ = 1/(bptt·units), the mean squared difference
per activation, which is therefore the default (`--layer-gamma one` runs
the paper's weights).

Columns are validation and test perplexity, exp(mean cross-entropy per
token). Windows of `--bptt` tokens are independent sequences (each starts
from a zero state; no state is carried between batches), so the numbers are
a little above those of stateful truncated backpropagation.

Full scale, from local files (PTB and WikiText-2 are not in TFDS): a
folder with `ptb.{train,valid,test}.txt` (Mikolov's PTB) or
`wiki.{train,valid,test}.tokens` (WikiText-2):

    python recipes/irl_language_model.py --dataset ptb --data-dir DIR
    python recipes/irl_language_model.py --dataset wikitext2 --data-dir DIR

or any English text file (split by paragraph: every 20th to validation, the
next to test), or a TFDS text corpus prepared beforehand:

    python recipes/irl_language_model.py --dataset text --text-file book.txt
    python recipes/irl_language_model.py --dataset tiny_shakespeare --data-dir TFDS_DIR

Embedded run, no download (`--dataset embedded`): the Python Language
Reference that ships with every CPython as `pydoc_data.topics` (the text
`help()` prints), with its code blocks dropped: about 45,000 words of
edited English prose in 1,750 paragraphs. It was chosen because it is real
English written by people (unlike generated text), needs nothing beyond the
Python that runs the recipe (NLTK's or scikit-learn's corpora need a
download; the licence texts under /usr/share depend on the distribution;
`this`, the Zen of Python, is 140 words), and is identical wherever the same
Python version runs (results.json records the version and token counts).
Its register is technical, and it is small: a 128-unit model (Adam,
12 epochs), not the paper's 1500.

    python recipes/irl_language_model.py --dataset embedded
"""

import collections
import os
import re
import sys
import time

import numpy as np

if __package__ in (None, ""):  # run as a script: make `recipes` importable
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import keras  # noqa: E402

import keras_invariance as ki  # noqa: E402
from recipes import _common  # noqa: E402

RECIPE = "irl_language_model"
DATASETS = ["ptb", "wikitext2", "text", "tiny_shakespeare", "lm1b", "embedded"]
FILES = {"ptb": "ptb.{}.txt", "wikitext2": "wiki.{}.tokens"}
UNK, EOS = "<unk>", "<eos>"
NOISES = {"unigram": "uni.", "blank": "blank"}

_LARGE = dict(embedding_dim=1500, hidden_units=1500, dropout=0.65, bptt=35,
              batch_size=20, epochs=55, optimizer="sgd",
              # Zaremba et al.'s learning rate 1 and gradient clip 10 are for
              # the loss summed over the 35 steps; Keras averages per token.
              learning_rate=35.0, clip_norm=10.0 / 35, decay_start=14,
              vocab_size=None, min_count=1, train_size=None, test_size=None)
_MEDIUM = dict(_LARGE, embedding_dim=650, hidden_units=650, dropout=0.5,
               epochs=39, decay_start=6, vocab_size=10000, min_count=2)
DEFAULTS = {
    "ptb": _LARGE, "wikitext2": _LARGE, "text": _MEDIUM,
    "tiny_shakespeare": _MEDIUM, "lm1b": _MEDIUM,
    "embedded": dict(embedding_dim=128, hidden_units=128, dropout=0.3, bptt=35,
                     batch_size=16, epochs=12, optimizer="adam",
                     learning_rate=1e-2, clip_norm=1.0, decay_start=0,
                     vocab_size=2000, min_count=2, train_size=None,
                     test_size=None),
}


def parse_args(argv=None):
    parser = _common.build_parser(RECIPE, __doc__, DATASETS)
    add = parser.add_argument
    add("--text-file", default=None, help="--dataset text: an English text file")
    add("--noises", nargs="+", choices=sorted(NOISES), default=["unigram", "blank"])
    add("--p", type=float, default=0.2, help="replacement probability (paper 0.2)")
    add("--gamma", type=float, default=1.0, help="γ of the IRL loss rows")
    add("--layer-gamma", choices=["per_unit", "per_step", "one"], default="per_unit",
        help="γ_ℓ of the hidden states and logits: 1/(bptt·units), the mean "
        "squared difference per activation (default); 1/bptt; or 1 as in the "
        "paper, which collapsed the model on the embedded corpus (see the "
        "module docstring)")
    add("--embedding-dim", type=_common.positive_int, default=None)
    add("--hidden-units", type=_common.positive_int, default=None)
    add("--dropout", type=float, default=None)
    add("--bptt", type=_common.positive_int, default=None, help="window length")
    add("--optimizer", choices=["sgd", "adam"], default=None)
    add("--clip-norm", type=float, default=None, help="global gradient clip norm")
    add("--decay-start", type=int, default=None,
        help="sgd: epochs before the learning rate decays by 1/1.15 per epoch")
    add("--vocab-size", type=int, default=None, help="most frequent words kept")
    add("--min-count", type=int, default=None, help="rarer words become <unk>")
    args = parser.parse_args(argv)
    args = _common.apply_defaults(args, DEFAULTS)
    if args.dataset == "text" and not args.text_file:
        parser.error("--dataset text needs --text-file")
    return args


# ---------------------------------------------------------------- corpus


def tokenize(text):
    """Raw English → PTB-like tokens: lower case, words, N, <eos> per sentence."""
    tokens = re.findall(r"[a-z]+(?:'[a-z]+)?|[0-9]+|[.!?]", text.lower())
    return ["N" if t.isdigit() else (EOS if t in ".!?" else t) for t in tokens]


def embedded_paragraphs():
    """The prose paragraphs of `pydoc_data.topics` (code blocks dropped)."""
    import pydoc_data.topics

    text = "\n\n".join(pydoc_data.topics.topics[k] for k in sorted(pydoc_data.topics.topics))
    paragraphs = []
    for block in re.split(r"\n\s*\n", text):
        lines = [line for line in block.split("\n") if line.strip()]
        first = lines[0].lstrip() if lines else ""
        indent = len(lines[0]) - len(first) if lines else 0
        bullet = first.startswith(("* ", "- ", "+ ")) or re.match(r"\d+\.\s", first)
        if (indent >= 3 and not bullet) or first.startswith(">>>"):
            continue  # a code block or a grammar rule
        if set(block.strip()) <= set("*=-~^ \n"):
            continue  # a heading underline
        paragraphs.append(" ".join(line.strip() for line in lines))
    return paragraphs


def split_paragraphs(paragraphs):
    """Every 20th paragraph to validation, the next to test, the rest to train."""
    splits = {"train": [], "valid": [], "test": []}
    for i, paragraph in enumerate(paragraphs):
        key = "valid" if i % 20 == 18 else "test" if i % 20 == 19 else "train"
        splits[key] += tokenize(paragraph)
    return splits


def load_token_files(args):
    """PTB / WikiText-2 files: already tokenized, one <eos> per line."""
    if not args.data_dir:
        raise _common.DataNotPreparedError(
            f"--dataset {args.dataset} reads local files: pass --data-dir DIR with "
            f"{FILES[args.dataset].format('{train,valid,test}')}. For a run without "
            "any download use --dataset embedded.")
    splits = {}
    for split in ("train", "valid", "test"):
        path = os.path.join(args.data_dir, FILES[args.dataset].format(split))
        if not os.path.isfile(path):
            raise _common.DataNotPreparedError(
                f"{path} not found: --data-dir must hold "
                f"{FILES[args.dataset].format('{train,valid,test}')}. For a run "
                "without any download use --dataset embedded.")
        tokens = []
        with open(path, encoding="utf-8") as f:
            for line in f:
                tokens += line.split() + [EOS]
        splits[split] = tokens
    return splits


def load_tfds_text(args):
    import tensorflow_datasets as tfds

    builder = tfds.builder(args.dataset, data_dir=args.data_dir)
    if not args.download and not builder.is_prepared():
        target = args.data_dir or "~/tensorflow_datasets"
        raise _common.DataNotPreparedError(
            f"{args.dataset} is not prepared in {target}.\nPrepare it once with "
            f"internet access: tfds build {args.dataset} --data_dir {target}, copy "
            f"it here and pass --data-dir {target}. For a run without any "
            "download use --dataset embedded.")
    names = set(builder.info.splits)
    valid = "validation" if "validation" in names else "test"
    splits = {}
    for key, split in (("train", "train"), ("valid", valid), ("test", "test")):
        ds = tfds.load(args.dataset, split=split, data_dir=args.data_dir,
                       download=args.download)
        text = "\n\n".join(x["text"].decode("utf-8") for x in tfds.as_numpy(ds))
        splits[key] = tokenize(text)
    return splits


def load_corpus(args):
    """`{train, valid, test}` token lists and a description."""
    if args.dataset in FILES:
        return load_token_files(args), args.data_dir
    if args.dataset == "text":
        with open(args.text_file, encoding="utf-8") as f:
            return split_paragraphs(re.split(r"\n\s*\n", f.read())), args.text_file
    if args.dataset == "embedded":
        return split_paragraphs(embedded_paragraphs()), (
            f"pydoc_data.topics of Python {sys.version.split()[0]}")
    return load_tfds_text(args), f"TFDS {args.dataset}"


def vocabulary(tokens, size, min_count):
    """Ids by frequency (ties by word); <unk> and <eos> always present."""
    counts = collections.Counter(tokens)
    words = sorted((w for w, c in counts.items() if c >= min_count and w not in (UNK, EOS)),
                   key=lambda w: (-counts[w], w))
    words = [EOS, UNK] + words
    return {w: i for i, w in enumerate(words[:size] if size else words)}


def windows(tokens, vocab, bptt, limit, rng):
    """Non-overlapping (inputs, next words) windows of `bptt` ids."""
    ids = np.array([vocab.get(t, vocab[UNK]) for t in tokens], "int32")
    n = (len(ids) - 1) // bptt
    x = ids[: n * bptt].reshape(n, bptt)
    y = ids[1: n * bptt + 1].reshape(n, bptt)
    if limit and limit < n:
        keep = np.sort(rng.permutation(n)[:limit])
        x, y = x[keep], y[keep]
    return x, y


# ---------------------------------------------------------------- model


def language_model(vocab_size, args, name="lstm_lm"):
    """Embedding → dropout → 2 × (LSTM → dropout) → `logits` over the words.

    The embedding has one more row than the vocabulary: the blank "__",
    which is an input only (never a target).
    """
    inputs = keras.Input((args.bptt,), dtype="int32", name="tokens")
    h = keras.layers.Embedding(vocab_size + 1, args.embedding_dim, name="embedding")(inputs)
    h = keras.layers.Dropout(args.dropout, name="dropout_0")(h)
    for i in (1, 2):
        h = keras.layers.LSTM(args.hidden_units, return_sequences=True, name=f"lstm_{i}")(h)
        h = keras.layers.Dropout(args.dropout, name=f"dropout_{i}")(h)
    outputs = keras.layers.Dense(vocab_size, name="logits")(h)
    return keras.Model(inputs, outputs, name=name)


def perplexity(model, x, y, batch_size=64):
    """exp(mean cross-entropy per token) of the plain network."""
    model = _common.predict_model(model)
    total = 0.0
    for i in range(0, len(y), batch_size):
        logits = np.asarray(model.predict_on_batch(x[i:i + batch_size]), "float32")
        top = logits.max(axis=-1, keepdims=True)
        log_z = top[..., 0] + np.log(np.exp(logits - top).sum(axis=-1))
        target = np.take_along_axis(logits, y[i:i + batch_size, :, None], -1)[..., 0]
        total += float(np.sum(log_z - target, dtype="float64"))
    return float(np.exp(total / y.size))


def methods(args, vocab_size, unigram):
    rows = [_common.Method("plain", lambda base, a: ki.IRL(base, preset="plain"))]
    for noise in args.noises:
        for preset, label in (("data_augmentation", "data augmentation"),
                              ("irl_batching", "IRL batching"), ("irl_loss", "IRL loss")):
            rows.append(_common.Method(f"{label} ({NOISES[noise]})",
                                       _builder(preset, noise, vocab_size, unigram)))
    return rows


def _builder(preset, noise, vocab_size, unigram):
    def build(base, args):
        if noise == "unigram":
            # The blank id (vocab_size) has no unigram mass: never drawn.
            perturbation = ki.perturbations.UnigramNoise(unigram=list(unigram) + [0.0], p=args.p,
                                           seed=args.seed)
        else:
            perturbation = ki.perturbations.BlankNoise(
                blank_id=vocab_size, p=args.p, seed=args.seed
            )
        return ki.IRL(base, perturbation=perturbation, preset=preset,
                      weight=args.gamma if preset == "irl_loss" else None,
                      layers=layer_gammas(args, vocab_size), distance="squared_l2",
                      # γ_ℓ = 1/(bptt·units) is this recipe's own scale: the
                      # raw distance becomes a mean squared difference.
                      scale="paper")

    return build


def layer_gammas(args, vocab_size):
    """{tap: γ_ℓ} for the last LSTM's hidden states and the logits."""
    units = {"lstm_2": args.hidden_units, "logits": vocab_size}
    if args.layer_gamma == "one":
        return {name: 1.0 for name in units}
    if args.layer_gamma == "per_step":
        return {name: 1.0 / args.bptt for name in units}
    return {name: 1.0 / (args.bptt * n) for name, n in units.items()}


def make_optimizer_factory(args):
    def make(steps_per_epoch):
        if args.optimizer == "adam":
            schedule = keras.optimizers.schedules.CosineDecay(
                args.learning_rate, max(1, args.epochs * steps_per_epoch))
            return keras.optimizers.Adam(schedule, global_clipnorm=args.clip_norm)
        bounds = [steps_per_epoch * e for e in range(max(1, args.decay_start), args.epochs)]
        values = [args.learning_rate / 1.15**i for i in range(len(bounds) + 1)]
        schedule = (keras.optimizers.schedules.PiecewiseConstantDecay(bounds, values)
                    if bounds else args.learning_rate)
        return keras.optimizers.SGD(schedule, global_clipnorm=args.clip_norm)

    return make


def main(argv=None):
    args = parse_args(argv)
    start = time.perf_counter()
    splits, source = load_corpus(args)
    vocab = vocabulary(splits["train"], args.vocab_size, args.min_count)
    rng = np.random.default_rng(args.seed)
    train = windows(splits["train"], vocab, args.bptt, args.train_size, rng)
    valid = windows(splits["valid"], vocab, args.bptt, args.test_size, rng)
    test = windows(splits["test"], vocab, args.bptt, args.test_size, rng)
    counts = np.bincount(train[0].ravel(), minlength=len(vocab)).astype("float64")
    columns = [
        _common.Column("val ppl", lambda m, x, y, a, r: perplexity(m, *valid), "{:.1f}"),
        _common.Column("test ppl", lambda m, x, y, a, r: perplexity(m, x, y), "{:.1f}"),
    ]
    rows = _common.run_methods(
        methods(args, len(vocab), counts), lambda: language_model(len(vocab), args),
        (train, test), columns, args, make_optimizer_factory(args),
        _common.progress_stream(args))
    title = (
        f"IRL Table 2 analogue ({source}: {sum(map(len, splits.values()))} tokens, "
        f"vocabulary {len(vocab)}; 2-layer LSTM {args.hidden_units} units, "
        f"bptt {args.bptt}, {args.epochs} epochs, {args.optimizer}; p={args.p:g}; "
        f"IRL loss γ={args.gamma:g}, squared L2 on lstm_2 + logits "
        f"(γ_ℓ {args.layer_gamma}); seed={args.seed}): perplexity"
    )
    extra = {"source": source, "python": sys.version.split()[0],
             "tokens": {k: len(v) for k, v in splits.items()},
             "windows": {"train": len(train[1]), "valid": len(valid[1]), "test": len(test[1])},
             "vocabulary": len(vocab)}
    return _common.report(args, title, rows, columns, time.perf_counter() - start, extra)


if __name__ == "__main__":
    main()
