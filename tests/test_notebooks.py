"""Every notebook runs top to bottom in quick mode, on the CPU, as papermill runs it.

Outputs go to a tmp folder (`output_dir`), never over the committed figures. A cell that
raises fails the test; each test also checks the figures its notebook promises. Notebook 02
runs in a stand-in for Colab (tests/colab_runtime.py), where it must install facegan itself.
"""

import json
import re
import shutil
import sys
from pathlib import Path

import nbformat
import pytest
from colab_runtime import KERNEL, make_runtime

papermill = pytest.importorskip("papermill")

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
BACKEND = "tensorflow"


def execute(name, tmp_path, kernel_name="python3", cwd=NOTEBOOKS, **parameters):
    """Run notebook `name` in quick mode (default: in the venv's kernel from notebooks/);
    return the executed notebook."""
    out = tmp_path / name
    papermill.execute_notebook(
        NOTEBOOKS / name, out, kernel_name=kernel_name, cwd=str(cwd), progress_bar=False,
        parameters={"quick": True, "backend": BACKEND, "output_dir": str(tmp_path), **parameters},
    )
    return nbformat.read(out, as_version=4)


def text_output(notebook):
    return "\n".join(o.get("text", "") + json.dumps(o.get("data", {}).get("text/plain", ""))
                     for cell in notebook.cells if cell.cell_type == "code"
                     for o in cell.get("outputs", []))


def test_kernel_is_this_python(tmp_path):
    """The kernel papermill starts must be the interpreter the tests run in (the venv)."""
    probe = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
        "import sys; print(sys.executable)")], metadata={"kernelspec": {"name": "python3", "display_name": "Python 3"}})
    nbformat.write(probe, tmp_path / "probe.ipynb")
    papermill.execute_notebook(tmp_path / "probe.ipynb", tmp_path / "out.ipynb",
                               kernel_name="python3", progress_bar=False)
    printed = nbformat.read(tmp_path / "out.ipynb", as_version=4).cells[0].outputs[0].text
    assert Path(printed.strip()).resolve() == Path(sys.executable).resolve()


@pytest.mark.slow
def test_gan_concepts(tmp_path):
    notebook = execute("00_gan_concepts.ipynb", tmp_path)
    assert "D phase changed only D; G phase changed only G." in text_output(notebook)
    for name in ("00_ring_training", "00_generator_losses", "00_mode_collapse",
                 "00_losses_and_modes"):
        assert (tmp_path / "figures" / f"{name}.png").is_file(), name


def write_celeba_attributes(path, images, names=("Smiling", "Male", "Eyeglasses")):
    """A small attribute file in CelebA's own format (count, names, one row per image);
    the real file has 40 columns, which the reader does not assume."""
    rows = [f"{i + 1:06d}.jpg " + " ".join(" 1" if (i + j) % (j + 2) == 0 else "-1"
                                          for j in range(len(names))) for i in range(images)]
    path.write_text(f"{images}\n{' '.join(names)}\n" + "\n".join(rows) + "\n")


def test_data_exploration_synthetic(tmp_path):
    notebook = execute("01_data_exploration.ipynb", tmp_path)
    output = text_output(notebook)
    assert "SYNTHETIC faces" in output and "No attribute file" in output
    for name in ("01_raw_grid", "01_crop_resize", "01_mean_face"):
        assert (tmp_path / "figures" / f"{name}.png").is_file(), name


def test_data_exploration_folder_with_attributes(tmp_path):
    from PIL import Image

    from facegan.data.synthetic import synthetic_faces

    folder = tmp_path / "celeba" / "img_align_celeba"
    folder.mkdir(parents=True)
    for i, face in enumerate(synthetic_faces(30, 64, seed=3)):
        Image.fromarray(face).resize((89, 109)).save(folder / f"{i + 1:06d}.jpg")
    write_celeba_attributes(tmp_path / "celeba" / "list_attr_celeba.txt", 30)
    notebook = execute("01_data_exploration.ipynb", tmp_path, data=str(folder))
    output = text_output(notebook)
    assert "SYNTHETIC" not in output and "89x109" in output
    assert "30 images x 3 attributes" in output
    for name in ("01_attribute_frequencies", "01_attribute_correlations"):
        assert (tmp_path / "figures" / f"{name}.png").is_file(), name


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """Notebooks 02 (in the Colab stand-in) and 03 run once in quick mode; their run folders
    feed the other tests."""
    folder = tmp_path_factory.mktemp("trained")
    runs = {number: folder / f"run{number}" for number in ("02", "03")}
    jupyter_path, content = make_runtime(tmp_path_factory.mktemp("colab"))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("JUPYTER_PATH", str(jupyter_path))
        execute("02_train_64x64.ipynb", folder, kernel_name=KERNEL, cwd=content, run_dir=str(runs["02"]))
    execute("03_train_128x128.ipynb", folder, run_dir=str(runs["03"]))
    return folder, runs


@pytest.mark.slow
def test_training_notebook_installs_itself_on_colab(trained):
    """02 ran where facegan was not installed, as on Colab: its first cell cloned the
    repository and installed it into the running kernel, and every later cell ran."""
    folder, _ = trained
    output = text_output(nbformat.read(folder / "02_train_64x64.ipynb", as_version=4))
    assert re.search(r"Cloned file://\S+/repository into \S+/content/facegan\n", output), output
    assert re.search(r"Installed facegan [\d.]+ from \S+/content/facegan into this kernel", output)
    assert "Keras backend: tensorflow (set by the backend parameter)" in output


@pytest.mark.slow
@pytest.mark.parametrize("number", ["02", "03"])
def test_training_notebook_writes_a_run_and_figures(trained, number):
    folder, runs = trained
    assert (runs[number] / "generator.keras").is_file()
    assert (runs[number] / "samples" / "epoch_0002.png").is_file()
    for file in (f"figures/{number}_progression.png", f"figures/{number}_loss_curves.png",
                 f"generated_images/{number}_gallery.png"):
        assert (folder / file).is_file(), file


@pytest.mark.slow
def test_training_notebook_resumes_its_run_folder(trained, tmp_path):
    _, runs = trained
    run = tmp_path / "run"
    shutil.copytree(runs["02"], run)
    notebook = execute("02_train_64x64.ipynb", tmp_path, run_dir=str(run), quick_epochs=3)
    assert "exists: resuming it" in text_output(notebook)
    assert "starting at step 14 of 21" in text_output(notebook)  # 224 images / 32 per step
    assert (run / "samples" / "epoch_0003.png").is_file()


@pytest.mark.slow
def test_results_gallery(trained, tmp_path, monkeypatch):
    from PIL import Image

    from facegan.data.synthetic import synthetic_faces
    from facegan.training.runs import RunDir

    _, runs = trained
    shipped = tmp_path / "pretrained"  # as if celeba64 were shipped: loaded by name, its
    shipped.mkdir()                     # card naming the settings it was trained with
    shutil.copy(RunDir(runs["02"]).sampling_generator, shipped / "celeba64.keras")
    (shipped / "celeba64.json").write_text(json.dumps({"settings": RunDir(runs["02"]).read_config()}))
    monkeypatch.setenv("FACEGAN_PRETRAINED", str(shipped))
    data_64 = tmp_path / "faces_64"  # 96 drawn faces, so its split is told from the others'
    data_64.mkdir()
    for i, face in enumerate(synthetic_faces(96, 64, seed=2)):
        Image.fromarray(face).save(data_64 / f"{i:03d}.png")
    # data_128 is the shipped celeba128's; the 128 generator here is a run's, which names its own
    notebook = execute("04_results_gallery.ipynb", tmp_path, run_64=str(runs["02"]),
                       run_128=str(runs["03"]), data_64=str(data_64),
                       data_128=str(tmp_path / "not_read"))
    output = text_output(notebook)
    assert "64x64: shipped generator 'celeba64'" in output
    assert f"128x128: {runs['03'] / 'generator_ema.keras'}" in output  # what the run samples
    # 32 held-out images: too few for memorisation, which the notebook says (the committed
    # copy shows its table: 1,000 held out)
    assert "32 held-out images, fewer than the 100 that memorisation needs" in output
    # the scores: the shipped generator against its card's split, the other against its run's
    assert "64x64, 64 training and 32 held-out images:" in output
    assert "128x128, 224 training and 32 held-out images:" in output
    assert re.search(r"face_rate +[\d.]+ +[\d.]+", output), output
    for file in ("generated_images/04_samples_64.png", "generated_images/04_samples_128.png",
                 "generated_images/04_progression_64.gif", "figures/04_interpolation_64.png",
                 "figures/04_loss_curves_64.png", "figures/04_nearest_neighbours_64.png",
                 "figures/04_64_vs_128.png"):
        assert (tmp_path / file).is_file(), file


@pytest.mark.slow
def test_latent_space_with_a_labelled_folder(tmp_path):
    """05 on the shipped celeba64 and attributes64, its real side read from a small
    CelebA-like folder of synthetic faces with a label file."""
    from PIL import Image

    from facegan.data.synthetic import synthetic_faces

    folder = tmp_path / "celeba" / "img_align_celeba"
    folder.mkdir(parents=True)
    for i, face in enumerate(synthetic_faces(40, 64, seed=5)):
        Image.fromarray(face).resize((89, 109)).save(folder / f"{i + 1:06d}.jpg")
    write_celeba_attributes(tmp_path / "celeba" / "list_attr_celeba.txt", 40)
    notebook = execute("05_latent_space.ipynb", tmp_path, data=str(folder), holdout=10)
    output = text_output(notebook)
    assert "attribute coverage of 128 generated faces against 30 real training faces" in output
    assert re.search(r"attribute FD: generated [\d.]+ \(128 faces\), held-out real [\d.]+ "
                     r"\(10 faces\)", output), output
    assert "(random direction)" in output and "result: {'Eyeglasses'" in output
    for name in ("05_coverage", "05_edit_smiling", "05_edit_eyeglasses", "05_vector_arithmetic"):
        assert (tmp_path / "figures" / f"{name}.png").is_file(), name


def test_an_image_shown_small_is_embedded_small(tmp_path, monkeypatch):
    """A notebook stores every image it shows: the 128x128 run's 1,042-pixel grid, shown
    520 pixels wide by the live view, must be stored 520 wide; a small one as it is."""
    import io

    import IPython.display
    from PIL import Image

    from facegan.notebooks.helpers import show_image

    shown = []
    monkeypatch.setattr(IPython.display, "display", shown.append)
    Image.new("RGB", (1042, 1042), "red").save(tmp_path / "large.png")
    Image.new("RGB", (300, 200), "red").save(tmp_path / "small.png")
    show_image(tmp_path / "large.png", width=520)
    show_image(tmp_path / "small.png", width=520)
    sizes = [Image.open(io.BytesIO(image.data)).size for image in shown]
    assert sizes == [(520, 520), (300, 200)]


@pytest.mark.slow
def test_data_size(tmp_path):
    """06 trains on 160 and on 40 drawn faces for the same 960 images, scored every 320,
    then plots both runs and shows their faces."""
    import pandas as pd

    notebook = execute("06_data_size.ipynb", tmp_path)
    output = text_output(notebook)
    assert "160 faces: 960 images seen, each face 6 times" in output
    assert "40 faces: 960 images seen, each face 24 times" in output
    for size, epochs in ((160, [2, 4, 6]), (40, [10, 20, 30])):
        metrics = pd.read_csv(tmp_path / "data_size_runs" / f"n{size}" / "metrics.csv")
        assert metrics["epoch"].tolist() == epochs
        assert {"face_rate", "memorisation", "memorisation_median_ratio"} <= set(metrics)
    for file in ("figures/06_data_size.png", "generated_images/06_data_size_faces.png"):
        assert (tmp_path / file).is_file(), file
