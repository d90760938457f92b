"""Shared by the benchmarks: the machine's float32 matmul rate, step timing, FLOP counting,
one subprocess per Keras backend (Keras picks its backend once per process), JSON output."""

import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def matmul_gflops(n=2048, repeats=5):
    """Best float32 GFLOP/s of an n x n matmul, by NumPy's BLAS and by PyTorch's: the bar."""
    import numpy as np

    a, b = (np.random.default_rng(0).standard_normal((2, n, n)).astype(np.float32))
    rates = {"numpy": 2 * n**3 / min(_times(lambda: a @ b, 1, repeats)) / 1e9}
    try:
        import torch
    except ImportError:
        return rates
    ta, tb = torch.from_numpy(a), torch.from_numpy(b)
    rates["torch"] = 2 * n**3 / min(_times(lambda: ta @ tb, 1, repeats)) / 1e9
    return rates


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
    from facegan.networks import count_macs

    return 2 * (4 * count_macs(generator) + 8 * count_macs(discriminator))


def machine():
    """One line naming the machine and the libraries measured."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}"


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
