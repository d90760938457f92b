"""What only the notebooks use: their helpers, the Colab badge and install cell, and the
two-dimensional toy GAN of notebook 00."""
