"""Reproduces the Invariant Backpropagation comparison on MNIST (Table 1, Fig. 2).

Paper: /work/shared/papers/invariant_backpropagation.txt (Demyanov et al.),
§5.1 Table 1 (MNIST column: test error of Standard BP, Prediction IBP,
Loss IBP, Original AT, Fast AT at their best β / ε) and §5.2 Fig. 2 (error
on test sets corrupted by FGSM noise, eq. 4, at several ε).

Rows and their defaults (the paper's best MNIST values):

    standard BP        L(x)
    Loss IBP           L(x) + β·‖∇x L‖₁, β = 0.03          (`ki.LossIBP`)
    Prediction IBP     L(x) + β·‖∇x p·∇x Lᵀ‖₁, β = 1.0     (`ki.PredictionIBP`)
    fast AT            L(x*) only, FGSM step ε = 0.03      (`ki.AdversarialTraining(attack="fast")`)
    FGSM AT            ½L(x) + ½L(x*), ε = 0.05 (eq. 5)    (`ki.AdversarialTraining(attack="fgsm")`)

Columns: clean test error (%) and error under FGSM (x + ε·sign(∇x L), no
clipping) at each `--eval-epsilons`, pixels in [0, 1] (the network subtracts
the mean pixel, as in the paper).

Setup as in the paper: the network of §5 (conv 32 4×4, 3×3/2 max pool, conv
64 5×5 pad 2, pool, FC 256, ReLU), a 10,000-example training subset, batch
32, SGD with momentum 0.9, learning rate 0.1 decayed ×0.98 per epoch, 80
epochs. The paper averages 10 subsets and seeds; run with `--seed 0..9`.
Tangent BP rows are not included (see `ki.TangentBP`).

Full scale (needs MNIST prepared for TFDS in DATA_DIR):

    python recipes/ibp_adversarial.py --dataset mnist --data-dir DATA_DIR

Tiny run on scikit-learn's digits (no download, seconds):

    python recipes/ibp_adversarial.py --dataset digits --epochs 1 --train-size 256 --test-size 128
"""

import os
import sys
import time

if __package__ in (None, ""):  # run as a script: make `recipes` importable
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import keras  # noqa: E402

import keras_invariance as ki  # noqa: E402
from keras_invariance import evaluation  # noqa: E402
from recipes import _common  # noqa: E402

RECIPE = "ibp_adversarial"

DEFAULTS = {
    "mnist": dict(epochs=80, batch_size=32, learning_rate=0.1, train_size=10000,
                  test_size=None),
    # 8×8 digits: a gentler rate (0.1 with momentum 0.9 is the paper's MNIST
    # setting; on 1,347 digits it is noisy).
    "digits": dict(epochs=30, batch_size=32, learning_rate=0.02, train_size=None,
                   test_size=None),
}


def parse_args(argv=None):
    parser = _common.build_parser(RECIPE, __doc__, ["mnist", "digits"])
    add = parser.add_argument
    add("--loss-ibp-beta", type=float, default=0.03)
    add("--prediction-ibp-beta", type=float, default=1.0)
    add("--fast-at-epsilon", type=float, default=0.03,
        help="FGSM step of fast AT (eq. 12; the paper's best 0.03)")
    add("--at-epsilon", type=float, default=0.05,
        help="ε of FGSM AT (eq. 5; the paper's best 0.05)")
    add("--eval-epsilons", type=float, nargs="+",
        default=[0.01, 0.02, 0.05, 0.1, 0.2],
        help="FGSM ε of the test columns (pixels in [0, 1])")
    add("--lr-decay", type=float, default=0.98, help="per-epoch learning-rate factor")
    args = parser.parse_args(argv)
    return _common.apply_defaults(args, DEFAULTS)


def methods():
    M = _common.Method
    return [
        M("standard BP", lambda base, a: ki.IRL(base, preset="plain")),
        M("Loss IBP", lambda base, a: ki.LossIBP(base, weight=a.loss_ibp_beta)),
        M("Prediction IBP",
          lambda base, a: ki.PredictionIBP(base, weight=a.prediction_ibp_beta)),
        # attack="fast" takes eq. 5's ε and steps ε/2: pass twice the step.
        M("fast AT", lambda base, a: ki.AdversarialTraining(
            base, attack="fast", epsilon=2.0 * a.fast_at_epsilon)),
        M("FGSM AT", lambda base, a: ki.AdversarialTraining(
            base, attack="fgsm", epsilon=a.at_epsilon)),
    ]


def columns(args):
    cols = [_common.error_column(
        "clean err %",
        lambda m, x, y, a: evaluation.clean_accuracy(_common.predict_model(m), x, y))]
    for eps in args.eval_epsilons:
        cols.append(_common.error_column(
            f"ε={eps:g} err %",
            lambda m, x, y, a, e=eps: evaluation.fgsm_accuracy(_common.predict_model(m), x, y, e)))
    return cols


def main(argv=None):
    args = parse_args(argv)
    start = time.perf_counter()
    data = _common.load_dataset(args)
    (x_train, _), (x_test, _) = data
    mean = float(x_train.mean())

    def make_base():
        return _common.ibp_cnn(x_train.shape[1:], 10, mean)

    def make_optimizer(steps_per_epoch):
        schedule = keras.optimizers.schedules.ExponentialDecay(
            args.learning_rate, steps_per_epoch, args.lr_decay, staircase=True)
        return keras.optimizers.SGD(schedule, momentum=0.9)

    cols = columns(args)
    rows = _common.run_methods(methods(), make_base, data, cols, args,
                               make_optimizer, _common.progress_stream(args))
    title = (
        f"Invariant BP, Table 1 / Fig. 2 ({args.dataset}, {len(x_train)} train / "
        f"{len(x_test)} test, {args.epochs} epochs, Loss IBP β={args.loss_ibp_beta:g}, "
        f"Prediction IBP β={args.prediction_ibp_beta:g}, fast AT step "
        f"{args.fast_at_epsilon:g}, FGSM AT ε={args.at_epsilon:g}, seed={args.seed}): "
        "test error %, clean and under FGSM"
    )
    return _common.report(args, title, rows, cols, time.perf_counter() - start)


if __name__ == "__main__":
    main()
