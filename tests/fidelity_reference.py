"""torch-fidelity's own numbers, for tests/test_fidelity.py, in a process of its own (a
process that has TensorFlow loaded cannot import a CUDA build of torchvision).

    python tests/fidelity_reference.py WEIGHTS GENERATED.npy REAL.npy SEED

writes random-weight Inception weights to WEIGHTS in the library's format (seeded), then
prints, as JSON, calculate_metrics on the two uint8 (N, R, R, 3) image sets and the
library's constants that facegan repeats.
"""

import json
import sys

import numpy as np
import torch
import torch_fidelity
from torch_fidelity import feature_extractor_inceptionv3 as inception
from unittest import mock


def random_weights(path):
    """The library's extractor with seeded random weights. He-initialised convolutions and
    perturbed BatchNorms keep pool3 features O(1) through the network's 90-odd layers."""
    torch.manual_seed(0)
    with mock.patch.object(inception, "load_state_dict_from_url", lambda *a, **k: None), \
            mock.patch.object(inception.FeatureExtractorInceptionV3, "load_state_dict",
                              lambda self, state: None):
        model = inception.FeatureExtractorInceptionV3("inception-v3-compat", ["2048"])
    for module in model.modules():
        if isinstance(module, torch.nn.Conv2d):
            torch.nn.init.kaiming_normal_(module.weight, nonlinearity="relu")
        elif isinstance(module, torch.nn.BatchNorm2d):
            module.weight.uniform_(0.8, 1.2)
            module.bias.uniform_(-0.1, 0.1)
            module.running_mean.uniform_(-0.1, 0.1)
            module.running_var.uniform_(0.8, 1.2)
    torch.save(model.state_dict(), path)


class Images(torch.utils.data.Dataset):
    """uint8 (N, R, R, 3) images as the library takes them: uint8 (3, R, R) tensors."""

    def __init__(self, images):
        self.images = images

    def __len__(self):
        return len(self.images)

    def __getitem__(self, i):
        return torch.from_numpy(np.ascontiguousarray(self.images[i])).permute(2, 0, 1)


def main(weights, generated, real, seed):
    random_weights(weights)
    generated, real = np.load(generated), np.load(real)
    metrics = torch_fidelity.calculate_metrics(
        input1=Images(generated), input2=Images(real), fid=True, kid=True, prc=True,
        feature_extractor="inception-v3-compat", feature_layer_prc="2048",
        feature_extractor_weights_path=weights, kid_subset_size=min(len(generated), len(real)),
        rng_seed=int(seed), cuda=False, cache=False, save_cpu_ram=True, verbose=False)
    network = inception.FeatureExtractorInceptionV3
    facts = {"url": inception.URL_INCEPTION_V3, "hub": torch.hub.get_dir(),
             "fid_layer": network.get_default_feature_layer_for_metric("fid")}
    print(json.dumps({"metrics": metrics, "facts": facts}))


if __name__ == "__main__":
    main(*sys.argv[1:])
