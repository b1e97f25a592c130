"""Packaging for keras-invariance."""

from setuptools import find_packages
from setuptools import setup

# What each optional part needs on top of the package itself
# (keras_invariance/utils/extras.py names these extras in its ImportErrors).
TUNER = ["keras-tuner", "tensorboard"]  # Keras Tuner imports tensorboard in every trial.
DIGITS = ["scikit-learn"]  # scikit-learn's embedded 8x8 digits.
PLOTS = ["matplotlib"]
# `keras-invariance report` (the main job): digits, figures, `--tune`.
REPORT = TUNER + DIGITS + PLOTS
RECIPES = ["tensorflow-datasets"] + REPORT
NOTEBOOKS = ["nbclient", "nbformat", "ipykernel"] + REPORT
# mnist1d: the 1-D model family of the defaults checks (generated, no
# download); pytest-xdist: the suite runs on two workers (pytest.ini); ruff:
# tests/test_lint.py checks the tree with ruff.toml.
TEST = ["pytest>=7", "pytest-xdist", "scipy", "mnist1d", "ruff"] + RECIPES + NOTEBOOKS

setup(
    name="keras-invariance",
    version="0.2.0",
    description=(
        "Invariance regularizers (IRL, noise/Jacobian/VAT, IBP, spatial "
        "invariance, learned invariances) for an ordinary Keras model.fit()."
    ),
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    packages=find_packages(include=["keras_invariance", "keras_invariance.*"]),
    # The console script's parser, outside the package so that `--help`
    # answers without importing TensorFlow (see its docstring).
    py_modules=["keras_invariance_cli"],
    python_requires=">=3.10",
    # Exactly what `import keras_invariance` imports; the rest are extras,
    # imported on use (tests/test_optional_deps.py).
    install_requires=[
        "tensorflow>=2.16",
        "keras>=3.8",
        "numpy",
    ],
    extras_require={
        "tuner": sorted(set(TUNER)),
        "digits": sorted(set(DIGITS)),
        "plots": sorted(set(PLOTS)),
        "report": sorted(set(REPORT)),
        "recipes": sorted(set(RECIPES)),
        "notebooks": sorted(set(NOTEBOOKS)),
        "test": sorted(set(TEST)),
    },
    entry_points={
        "console_scripts": ["keras-invariance=keras_invariance_cli:main"]
    },
)
