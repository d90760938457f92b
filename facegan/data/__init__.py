"""Face images: loading and caching them, synthetic faces, CelebA's attribute labels, and
looking at a dataset before training on it."""
