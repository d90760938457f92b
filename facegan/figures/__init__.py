"""Pictures: image grids and training plots, a run's committed figures, and the gallery of
a trained generator."""
