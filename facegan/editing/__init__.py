"""Editing faces by their attributes: the attribute classifier and latent directions."""
