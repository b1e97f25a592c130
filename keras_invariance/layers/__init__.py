"""Layers of keras-invariance."""

from keras_invariance.layers.extended import ExtendedLayer

__all__ = ["ExtendedLayer"]
