"""What each suite times: name → (label, build(base) → model, goal).

Every entry wraps the same freshly built base model with one public preset
(`ki.IRL`, `ki.LossIBP`, …). Goals are ratios to plain `fit()` of the same
model (issue 15; the papers' own numbers where they give one; issue 21 for
the second-order terms on the ResNet): a number, or `(without XLA, with
XLA)`.
"""

import keras_invariance as ki

NOISE = 0.1


def _gaussian_irl(**kwargs):
    return lambda base: ki.IRL(base, perturbation=ki.perturbations.GaussianNoise(NOISE), **kwargs)


def _entry(label, build, goal=None):
    return {"label": label, "build": build, "goal": goal}


#: The MLP suite (64→256→256→10 on digits).
MLP = {
    "plain": _entry("plain fit()", lambda b: b),
    "invariant_model": _entry("ki.InvariantModel(base, alpha=1)", lambda b: ki.InvariantModel(b)),
    "data_augmentation": _entry("D.A. (Gaussian, IRL preset)",
                                _gaussian_irl(preset="data_augmentation")),
    "irl_k1": _entry("IRL loss, K=1", _gaussian_irl(), 2.0),
    "irl_k2": _entry("IRL loss, K=2", _gaussian_irl(num_samples=2)),
    "irl_c_k1": _entry("IRL-C (above hidden_1), K=1", _gaussian_irl(layers="above:hidden_1")),
    "loss_ibp": _entry("Loss IBP", lambda b: ki.LossIBP(b, weight=0.03), 1.5),
    "prediction_ibp": _entry("Prediction IBP", lambda b: ki.PredictionIBP(b), 1.75),
    "fast_at": _entry("fast AT (FGSM ε/2, L(x*) only)",
                      lambda b: ki.AdversarialTraining(b, attack="fast", epsilon=0.1), 1.5),
    "fgsm_at": _entry("FGSM AT (½L(x) + ½L(x*))",
                      lambda b: ki.AdversarialTraining(b, attack="fgsm", epsilon=0.1), 1.8),
    "pgd_7": _entry("PGD-7 AT",
                    lambda b: ki.AdversarialTraining(b, attack="pgd", epsilon=0.1, steps=7)),
    "pgd_7_l2": _entry(
        "PGD-7 AT, ℓ2 ball",
        lambda b: ki.AdversarialTraining(b, attack="pgd", norm=2, epsilon=1.0, steps=7)),
    "pgd_7_l1": _entry(
        "PGD-7 AT, ℓ1 ball",
        lambda b: ki.AdversarialTraining(b, attack="pgd", norm=1, epsilon=2.0, steps=7)),
    "vat": _entry("VAT (1 power iteration)", lambda b: ki.VAT(b, epsilon=1.0), 2.5),
    "noise_regularized": _entry("noise regularization",
                                lambda b: ki.NoiseRegularized(b, stddev=0.1)),
    "jacobian_proj1": _entry("Jacobian, 1 projection",
                             lambda b: ki.JacobianRegularized(b, num_projections=1)),
    "jacobian_exact": _entry("Jacobian, exact (10 classes)", lambda b: ki.JacobianRegularized(b)),
    "at_kl_pgd3": _entry("A.T. + KL, PGD-3",
                         lambda b: ki.RegularizedAdversarialTraining(b, steps=3)),
}

#: The compute-bound suite: every preset on a small ResNet, 32×32×3.
CNN = {
    "plain": _entry("plain fit()", lambda b: b),
    "invariant_model": _entry("ki.InvariantModel(base, alpha=1)", lambda b: ki.InvariantModel(b)),
    "data_augmentation": _entry("D.A. (Gaussian, IRL preset)",
                                _gaussian_irl(preset="data_augmentation")),
    "irl_k1": _entry("IRL loss, K=1", _gaussian_irl(), 2.0),
    "irl_k2": _entry("IRL loss, K=2", _gaussian_irl(num_samples=2)),
    "irl_c_k1": _entry("IRL-C (above block3_out), K=1", _gaussian_irl(layers="above:block3_out")),
    "loss_ibp": _entry("Loss IBP", lambda b: ki.LossIBP(b, weight=0.03), 1.6),
    "prediction_ibp": _entry("Prediction IBP", lambda b: ki.PredictionIBP(b), (3.0, 2.2)),
    "fast_at": _entry("fast AT",
                      lambda b: ki.AdversarialTraining(b, attack="fast", epsilon=8 / 255), 1.5),
    "fgsm_at": _entry("FGSM AT",
                      lambda b: ki.AdversarialTraining(b, attack="fgsm", epsilon=8 / 255), 1.8),
    "pgd_7": _entry("PGD-7 AT",
                    lambda b: ki.AdversarialTraining(b, attack="pgd", epsilon=8 / 255, steps=7)),
    "vat": _entry("VAT (1 power iteration)", lambda b: ki.VAT(b, epsilon=1.0), 2.5),
    "noise_regularized": _entry("noise regularization",
                                lambda b: ki.NoiseRegularized(b, stddev=0.1)),
    "jacobian_proj1": _entry("Jacobian, 1 projection",
                             lambda b: ki.JacobianRegularized(b, num_projections=1)),
    "jacobian_exact": _entry("Jacobian, exact (10 classes)", lambda b: ki.JacobianRegularized(b)),
    "at_kl_pgd3": _entry("A.T. + KL, PGD-3",
                         lambda b: ki.RegularizedAdversarialTraining(b, epsilon=8 / 255, steps=3)),
    "spatial_da": _entry("spatial D.A. (random ±3 px, ±30°)",
                         lambda b: ki.SpatialInvariance(b, preset="da")),
    "spatial_da_kl": _entry("spatial D.A. + KL", lambda b: ki.SpatialInvariance(b, preset="da_kl")),
    "spatial_at_wo10": _entry("spatial A.T., worst-of-10",
                              lambda b: ki.SpatialInvariance(b, preset="at", k=10)),
    "spatial_at_spgd5": _entry(
        "spatial A.T., S-PGD 5",
        lambda b: ki.SpatialInvariance(b, preset="at", attack="spgd", steps=5)),
    "tangent_bp": _entry("Tangent BP, 5 exact tangents", lambda b: ki.TangentBP(b, weight=0.01),
                         (7.0, 5.0)),
    "tangent_bp_forward": _entry(
        "Tangent BP, B·T-row forward mode",
        lambda b: ki.InvariantModel(
            b, penalties=[ki.penalties.TangentProp(weight=0.01, jvp_method="forward")])),
    "tangent_bp_proj1": _entry("Tangent BP, 1 random projection",
                               lambda b: ki.TangentBP(b, weight=0.01, num_projections=1)),
    "fast_tangent_bp": _entry("fast Tangent BP", lambda b: ki.FastTangentBP(b, weight=0.01)),
}

#: The spatial suite (16×16 digits CNN, XLA by default).
SPATIAL = {
    "plain": _entry("plain fit()", lambda b: b),
    "da": _entry("D.A. (L(x) + L(x̃), random)", lambda b: ki.SpatialInvariance(b, preset="da")),
    "da_kl": _entry("D.A. + KL", lambda b: ki.SpatialInvariance(b, preset="da_kl")),
    "at_wo10": _entry("A.T. worst-of-10", lambda b: ki.SpatialInvariance(b, preset="at", k=10)),
    "at_spgd5": _entry("A.T. S-PGD 5",
                       lambda b: ki.SpatialInvariance(b, preset="at", attack="spgd", steps=5)),
    "tangent_bp": _entry("Tangent BP, 5 exact tangents",
                         lambda b: ki.TangentBP(b, weight=0.01), 5.0),
    "tangent_bp_forward": _entry(
        "Tangent BP, B·T-row forward mode",
        lambda b: ki.InvariantModel(
            b, penalties=[ki.penalties.TangentProp(weight=0.01, jvp_method="forward")])),
    "tangent_bp_proj1": _entry("Tangent BP, 1 random projection",
                               lambda b: ki.TangentBP(b, weight=0.01, num_projections=1)),
    "fast_tangent_bp": _entry("fast Tangent BP", lambda b: ki.FastTangentBP(b, weight=0.01)),
}

#: Ratios between two methods of a suite: (numerator, denominator, goal).
RELATIVE_GOALS = [
    ("spatial_da_kl", "spatial_da", 1.05),
    ("da_kl", "da", 1.05),
]
