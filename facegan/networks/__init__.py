"""The networks and their files: layers, the DCGAN generator and discriminator, spectral
norm, sampling a generator, and the generators shipped with the project."""
