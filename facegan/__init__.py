"""facegan: Keras 3 GANs that generate human faces."""

__version__ = "0.1.0"

# The repository's public address, written only here: the notebooks' install cells and
# Colab badges are stamped from it (`python -m facegan.notebooks.colab`), and tests/test_colab.py
# checks that they, the README and pyproject.toml agree with it.
REPOSITORY = "https://github.com/facegan/facegan"
