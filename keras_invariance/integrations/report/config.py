"""What one report run does: `ReportConfig` and its dataset defaults."""

import dataclasses

from keras_invariance.evaluation import common
from keras_invariance.integrations.report.data import ReportError

#: Defaults that depend on the data. The report's digits are scikit-learn's
#: 8×8 glyphs upscaled to 16×16 in a 20×20 frame (an MNIST digit is ~20×20
#: px in 28×28), so their spatial box is scaled down from the papers' ±3 px,
#: ±30°, which TFDS images keep: at ±1 px, ±15° the worst of the 775-grid
#: separates plain training (~10 %) from spatial D.A. (~35 %).
DATASET_DEFAULTS = {
    "digits": dict(epochs=12, train_size=None, test_size=None,
                   translation=1.0, rotation=15.0),
    "tfds": dict(epochs=5, train_size=10000, test_size=1000,
                 translation=3.0, rotation=30.0),
}

#: What `--quick` changes: a smoke run of every method in about a minute.
QUICK = dict(epochs=2, train_size=384, test_size=128, grid=(3, 3, 5),
             noise_draws=1, pgd_steps=5, diagnostics_size=64, worst_of=5,
             seeds=1, grid_size=64)
#: Where the outputs go by default, and those of `--quick`.
OUTPUT_DIR = "outputs/report"
QUICK_OUTPUT_DIR = "outputs/report-quick"
#: Seeds of a full run (each method is trained once per seed).
DEFAULT_SEEDS = 3
#: What `--tune` optimizes on the validation split (see `report.tune`).
TUNE_OBJECTIVES = ("mean", "noise", "linf", "spatial")


@dataclasses.dataclass
class ReportConfig:
    """The settings of a report run (the `keras-invariance report` options).

    Fields left at `None` take the defaults of the dataset
    (`DATASET_DEFAULTS`), then `--quick`'s (`QUICK`) when `quick` is set.

    Example:

    >>> config = ReportConfig(quick=True).resolved()
    >>> config.epochs, config.translation, config.grid, config.seeds
    (2, 1.0, (3, 3, 5), 1)
    >>> ReportConfig().resolved().seeds
    3

    Attributes:
        output_dir: Where `results.json`, the PNGs and `report.html` go
            (default `outputs/report`, `outputs/report-quick` with `quick`,
            so a smoke run never meets a full report).
        methods: Method keys (`keras_invariance.integrations.report.METHODS`), or
            `"default"` / `"all"`.
        methods_explicit: Whether the user chose `methods` (image-only
            methods are dropped quietly for flat data otherwise).
        dataset: `"digits"` or a TFDS name.
        data_dir: TFDS `data_dir`.
        model: Path of a `.keras` model to train copies of, or `None` for
            the report's small CNN.
        overwrite: Replace the report files already in `output_dir`.
        epochs: Training epochs of every method.
        batch_size: Training batch size.
        learning_rate: Adam's learning rate.
        train_size: Training examples (a seeded subset), `None` for all.
        test_size: Test examples (a seeded subset), `None` for all.
        noise: σ of the Gaussian noise the IRL rows train with, and of the
            diagnostics' perturbed copy (pixels in [0, 1]).
        noise_levels: σ of the noise-accuracy curve.
        noise_draws: Noisy copies averaged per σ.
        epsilons: ε of the FGSM and PGD curves (ℓ∞, pixels, clipped to
            [0, 1]).
        pgd_steps: PGD steps.
        translation: Spatial box: |dx|, |dy| in pixels.
        rotation: Spatial box: |angle| in degrees.
        grid: Grid granularity (n_dx, n_dy, n_angle); 5×5×31 = 775.
        worst_of: k of the worst-of-k spatial attack.
        grid_size: Test examples the grid attack runs on (the first ones
            of the shuffled test split): an example that survives pays all
            775 transforms, which made the grid the most expensive part
            of every evaluation.
        diagnostics_size: Test examples of the per-layer diagnostics.
        seed: Seed of the data split and subsets and of the evaluation's
            noise and attack starts, and the first training seed.
        seeds: Training runs per method, with seeds `seed`, `seed + 1`, …
            (initial weights, batch order, training noise); every number
            is reported as mean ± a 95 % interval over them. Default 3
            (`DEFAULT_SEEDS`), 1 with `quick`.
        tune: The fair mode's Keras Tuner trial budget per method (`None`:
            every method at its preset's default weights).
        tune_objective: What the fair mode maximizes on the validation
            split: `"noise"`, `"linf"` (PGD), `"spatial"` (worst-of-k) or
            `"mean"` of those the data allow.
        max_clean_drop: The fair mode's constraint: a trial's validation
            clean accuracy may fall at most this much (a fraction) below
            plain training's.
        validation_fraction: The part of the training data the fair mode
            holds out for validation.
        quick: A smoke run (see `QUICK`).
    """

    output_dir: str = None
    methods: tuple = ("default",)
    methods_explicit: bool = False
    dataset: str = "digits"
    data_dir: str = None
    model: str = None
    overwrite: bool = False
    epochs: int = None
    batch_size: int = 64
    learning_rate: float = 1e-3
    train_size: int = None
    test_size: int = None
    noise: float = 0.3
    noise_levels: tuple = (0.1, 0.2, 0.3, 0.5)
    noise_draws: int = 2
    epsilons: tuple = (0.02, 0.05, 0.1)
    pgd_steps: int = 10
    translation: float = None
    rotation: float = None
    grid: tuple = (5, 5, 31)
    worst_of: int = 10
    grid_size: int = 150
    diagnostics_size: int = 128
    seed: int = 0
    seeds: int = None
    tune: int = None
    tune_objective: str = "mean"
    max_clean_drop: float = 0.02
    validation_fraction: float = 0.2
    quick: bool = False

    def resolved(self):
        """A copy with every default filled in and every value checked.

        Returns:
            A `ReportConfig`.

        Raises:
            ReportError: For an empty or negative σ / ε list, a negative
                noise or box, or a count < 1.
        """
        values = dataclasses.asdict(self)
        kind = "digits" if self.dataset == "digits" else "tfds"
        explicit = {k for k, v in values.items() if v is not None}
        for key, value in DATASET_DEFAULTS[kind].items():
            if values[key] is None:
                values[key] = value
        if values["output_dir"] is None:
            values["output_dir"] = QUICK_OUTPUT_DIR if self.quick else OUTPUT_DIR
        if values["seeds"] is None:
            values["seeds"] = QUICK["seeds"] if self.quick else DEFAULT_SEEDS
        if self.quick:
            for key, value in QUICK.items():
                default = ReportConfig.__dataclass_fields__[key].default
                # What the user gave wins; sizes only shrink.
                if key in explicit and values[key] != default:
                    continue
                if key in ("train_size", "test_size") and values[key] is not None:
                    values[key] = min(values[key], value)
                else:
                    values[key] = value
        config = ReportConfig(**values)
        config._check()
        return config

    def _check(self):
        try:
            self.noise_levels = tuple(common.check_levels(
                self.noise_levels, "--noise-levels", "report"))
            self.epsilons = tuple(common.check_levels(self.epsilons, "--epsilons", "report"))
            for name in ("noise", "translation", "rotation"):
                common.check_levels([getattr(self, name)], f"--{name}", "report")
        except ValueError as error:
            raise ReportError(str(error).replace("report: ", "", 1)) from None
        for name in ("epochs", "batch_size", "noise_draws", "pgd_steps",
                     "worst_of", "diagnostics_size", "seeds", "grid_size"):
            if int(getattr(self, name)) < 1:
                raise ReportError(f"--{name.replace('_', '-')} must be ≥ 1")
        if self.tune is not None and int(self.tune) < 1:
            raise ReportError(f"--tune needs a trial budget ≥ 1; received {self.tune}")
        if self.tune_objective not in TUNE_OBJECTIVES:
            raise ReportError(
                f"--tune-objective {self.tune_objective!r}: choose one of "
                f"{', '.join(TUNE_OBJECTIVES)}")
        if not 0.0 <= self.max_clean_drop <= 1.0:
            raise ReportError(
                f"--max-clean-drop is a fraction in [0, 1]; received {self.max_clean_drop}")
        if not 0.0 < self.validation_fraction < 1.0:
            raise ReportError(
                "--validation-fraction must be in (0, 1); received "
                f"{self.validation_fraction}")
        if len(self.grid) != 3 or min(self.grid) < 1:
            raise ReportError(f"--grid needs three counts ≥ 1; received {self.grid}")
        self.grid = tuple(int(g) for g in self.grid)
