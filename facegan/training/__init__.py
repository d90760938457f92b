"""Training a GAN: losses, penalties, augmentation, the weight average, the two step paths
(gan: two combined models; fused: one call), the loop, presets, TensorBoard, several devices
and processes, and the run folder."""
