"""Shared by the benchmarks: the machine's matmul rates (CPU, and a CUDA GPU when torch sees
one), step timing, FLOP counting, one subprocess per Keras backend (Keras picks its backend
once per process), JSON output."""

import importlib.util
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def slug(name):
    """A configuration's name as a folder name: "hinge + SN" -> "hinge___sn"."""
    return "".join(c if c.isalnum() else "_" for c in name.lower()).strip("_")


# Measure -> its badness, for the rules that pick a winner (benchmarks/ablation.py, equal_time.py)
RANKED = {
    "face_rate": lambda m: -m["face_rate"],
    "diversity": lambda m: abs(1.0 - m["diversity"]),
    "attribute_coverage": lambda m: m["attribute_coverage"],
    "attribute_fd": lambda m: m["attribute_fd"],
    "fid": lambda m: m["fid"],
}


def rank(rows, measures=("face_rate", "diversity", "attribute_coverage", "attribute_fd")):
    """Row names by mean rank over `measures` (keys of RANKED), best first, ties to the lower
    last measure; rows flagged for memorisation last."""
    clean = [r for r in rows if not rows[r].get("memorisation_flagged", False)]
    ranks = {r: 0.0 for r in clean}
    for measure in measures:
        for place, r in enumerate(sorted(clean, key=lambda r: RANKED[measure](rows[r]))):
            ranks[r] += place + 1
    order = sorted(clean, key=lambda r: (ranks[r], RANKED[measures[-1]](rows[r])))
    return order + [r for r in rows if r not in clean]


def installed_backends():
    """The Keras backends whose framework is installed (a GPU machine may lack TensorFlow)."""
    return [b for b in ("tensorflow", "torch", "jax") if importlib.util.find_spec(b)]


def matmul_gflops(n=2048, repeats=5):
    """Best float32 GFLOP/s of an n x n matmul, by NumPy's BLAS and by PyTorch's on the CPU,
    and, when torch sees a CUDA GPU, the GPU's rates (cuda_float32, cuda_tf32, cuda_bfloat16)."""
    import numpy as np

    a, b = (np.random.default_rng(0).standard_normal((2, n, n)).astype(np.float32))
    rates = {"numpy": 2 * n**3 / min(_times(lambda: a @ b, 1, repeats)) / 1e9}
    try:
        import torch
    except ImportError:
        return rates
    ta, tb = torch.from_numpy(a), torch.from_numpy(b)
    rates["torch"] = 2 * n**3 / min(_times(lambda: ta @ tb, 1, repeats)) / 1e9
    if torch.cuda.is_available():
        rates.update(_cuda_matmul_gflops())
    return rates


def _cuda_matmul_gflops(n=8192, inner=10, repeats=5):
    """Best GPU GFLOP/s of `inner` back-to-back n x n matmuls (n large enough to fill the
    chip), synchronized, in strict float32, in TF32 and in bfloat16; torch's TF32 setting
    is restored and the memory handed back, so the workers get the whole GPU."""
    import torch

    settings = torch.backends.cuda.matmul
    saved = settings.allow_tf32
    a, b = torch.randn(2, n, n, device="cuda")
    rates = {}
    try:
        for name, dtype, tf32 in (("cuda_float32", torch.float32, False),
                                  ("cuda_tf32", torch.float32, True),
                                  ("cuda_bfloat16", torch.bfloat16, False)):
            settings.allow_tf32 = tf32
            x, y = a.to(dtype), b.to(dtype)
            out = torch.empty_like(x)

            def run():
                for _ in range(inner):
                    torch.mm(x, y, out=out)
                torch.cuda.synchronize()

            rates[name] = 2 * n**3 * inner / min(_times(run, 2, repeats)) / 1e9
    finally:
        settings.allow_tf32 = saved
    del a, b, x, y, out
    torch.cuda.empty_cache()
    return rates


def matmul_bar(rates, precision):
    """(name, GFLOP/s) of the rate a step's GFLOP/s is shown as a share of ("share_of_matmul").

    On a CPU the best float32 rate. On a GPU the rate the step's convolutions may run at:
    for the float32 policy TF32 (cuDNN and XLA use it for float32 convolutions by default on
    Ampere and Hopper), for the mixed policies bfloat16 (float16 runs at the same rate).
    """
    if "cuda_tf32" in rates:
        name = "cuda_tf32" if precision == "float32" else "cuda_bfloat16"
    else:
        name = max(rates, key=rates.get)
    return name, rates[name]


def _times(fn, warmup, steps):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times


def median_seconds(fn, warmup, steps):
    """Median wall time of fn() over `steps` calls after `warmup` (tracing, allocation) calls."""
    return statistics.median(_times(fn, warmup, steps))


def train_step_flops(generator, discriminator):
    """FLOPs per image of one training step, from the layers' multiply-accumulates (2 FLOPs each).

    D phase: G forward (frozen), then D forward and backward on the real and on the fake
    batch (backward = input gradients + weight gradients = 2x forward). G phase: G forward
    and backward, D forward and input gradients only (frozen: no weight gradients). So
    4 G + 8 D forward passes per image. Elementwise work (BatchNorm, activations, Adam) is
    not counted, nor the first layers' input gradients that frameworks skip (a few %).
    """
    from facegan.networks.dcgan import count_macs

    return 2 * (4 * count_macs(generator) + 8 * count_macs(discriminator))


def machine():
    """One line naming the machine: CPU, cores, the GPU when torch sees one, Python."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    gpu = ""
    try:
        import torch

        if torch.cuda.is_available():
            gpu = f", {torch.cuda.get_device_name()}"
    except ImportError:
        pass
    return f"{cpu}, {os.cpu_count()} cores{gpu}, Python {platform.python_version()}"


def framework_version(backend):
    """The installed version of the framework behind a Keras backend, e.g. "torch 2.14.1"."""
    from importlib.metadata import version

    return f"{backend} {version(backend)}"


def run_backend(backend, script, args, timeout=3600):
    """Run `script --worker ARGS` under KERAS_BACKEND=backend; return its JSON (last stdout line)."""
    env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3"}
    done = subprocess.run([sys.executable, str(script), "--worker", *map(str, args)], env=env,
                          capture_output=True, text=True, timeout=timeout, cwd=ROOT)
    if done.returncode != 0:
        raise RuntimeError(f"{backend} worker failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def write_json(path, record):
    """Write the benchmark's figures, with the machine they came from, to `path`."""
    if path:
        record = {"machine": machine(), "time": time.strftime("%Y-%m-%d %H:%M:%S"), **record}
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(json.dumps(record, indent=2) + "\n")
        print(f"wrote {path}")
