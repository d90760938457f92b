"""facegan: Keras 3 GANs that generate human faces."""

__version__ = "0.1.0"
