"""The backend-sensitive tests again on PyTorch and JAX, each in its own process (Keras
picks its backend once per process). JAX runs only the tiny-model phase and fused-step
tests: its CPU transposed convolutions are about 20x slower than the other backends'."""

import os
import subprocess
import sys

import pytest

CLASSIFIER = [  # the attribute classifier's path: save, load, read faces, the measures
    f"tests/test_attribute_classifier.py::{test}" for test in (
        "test_classifier_reads_uint8_faces_of_any_size",
        "test_streamed_measures_match_the_whole_set",
        "test_registry_family_reads_sets_with_the_shipped_classifier")]
# facegan evaluate gives torch-fidelity's FID, KID, precision and recall on every backend
FIDELITY = ["tests/test_fidelity.py::test_evaluate_gives_torch_fidelity_numbers"]
SUITES = {
    "torch": ["tests/test_gan.py", "tests/test_networks.py",
              "tests/test_training.py::test_run_folder_is_complete",
              "tests/test_training.py::test_resumed_run_matches_an_uninterrupted_one",
              "tests/test_variants.py", "tests/test_fused.py",
              "tests/test_faults.py::test_a_nan_batch_stops_the_run_and_keeps_the_last_good_checkpoint",
              *CLASSIFIER, *FIDELITY],
    "jax": ["tests/test_gan.py",  # and the jax.grad branch of the gradient penalty
            "tests/test_variants.py::test_gradient_penalty_of_a_linear_critic_is_analytic",
            "tests/test_variants.py::test_critic_step_follows_the_hand_computed_gradient",
            # the fused step's maths; its checkpoints and resumed runs: TF's and torch's suites
            "tests/test_fused.py::test_fused_step_matches_the_two_phase_step",
            "tests/test_steps_per_call.py::test_k_steps_in_one_call_equal_k_single_steps",
            "tests/test_faults.py::test_a_nan_batch_stops_the_run_and_keeps_the_last_good_checkpoint",
            *CLASSIFIER, *FIDELITY],
}


@pytest.mark.slow
@pytest.mark.parametrize("backend", SUITES)
def test_suite_passes_on_backend(backend):
    if os.environ.get("KERAS_BACKEND", "tensorflow") != "tensorflow":
        pytest.skip("run from the default (TensorFlow) suite only")
    env = {**os.environ, "KERAS_BACKEND": backend}
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           *SUITES[backend]], env=env, capture_output=True, text=True,
                          timeout=900)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert " passed" in done.stdout.splitlines()[-1]
