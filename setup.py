"""Packaging for keras-invariance."""

from setuptools import find_packages
from setuptools import setup

setup(
    name="keras-invariance",
    version="0.1.0",
    description=(
        "Invariance regularizers (IRL, noise/Jacobian/VAT, IBP, spatial "
        "invariance, learned invariances) for an ordinary Keras model.fit()."
    ),
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    packages=find_packages(include=["keras_invariance", "keras_invariance.*"]),
    python_requires=">=3.10",
    install_requires=[
        "tensorflow>=2.16",
        "keras>=3.8",
        "keras-tuner",
        "tensorflow-datasets",
        # Keras Tuner imports it in every trial; TF 2.21 no longer installs it.
        "tensorboard",
        # Embedded data for the main job, tests and recipes (no download).
        "scikit-learn",
        "mnist1d",
        "matplotlib",
        "numpy",
    ],
    extras_require={"test": ["pytest>=7"]},
    entry_points={
        "console_scripts": ["keras-invariance=keras_invariance.cli:main"]
    },
)
