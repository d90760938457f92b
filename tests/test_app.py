"""The Streamlit page (app.py) driven through Streamlit's own AppTest, on a tiny generator.

AppTest runs the script in this process, so the tests point `facegan.networks.pretrained` at a tmp
folder and read back the exact bytes of every image and download the page produced.
"""

import io
import json
import zipfile
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest
import streamlit as st
from streamlit.runtime.media_file_manager import MediaFileManager
from streamlit.testing.v1 import AppTest, app_test

from facegan.editing.directions import Directions, shipped_path
from facegan.figures.grids import image_grid
from facegan.networks import pretrained
from facegan.networks.dcgan import build_generator
from facegan.networks.sampling import generate, latents

APP = str(Path(__file__).resolve().parent.parent / "app.py")
CARD = {"data": "synthetic", "resolution": 64, "epochs": 1, "backend": "tensorflow"}
DIRECTIONS = ("Smiling", "Male", "Young", "Eyeglasses", "Blond_Hair", "Bald")


@pytest.fixture(scope="module")
def generator_dir(tmp_path_factory):
    """A folder with a tiny, untrained `celeba64` generator, its card and random attribute
    directions (one more than the page has sliders for)."""
    folder = tmp_path_factory.mktemp("pretrained")
    build_generator(64, base_channels=4).save(folder / "celeba64.keras")
    (folder / "celeba64.json").write_text(json.dumps(CARD))
    vectors = np.random.default_rng(0).standard_normal((6, 100)).astype(np.float32)
    Directions(DIRECTIONS, vectors / np.linalg.norm(vectors, axis=1, keepdims=True),
               np.ones(6), np.full(6, 0.5), "logistic", 1000).save(shipped_path("celeba64", folder))
    return folder


@pytest.fixture
def use_generators(monkeypatch):
    """Point the shipped-generator folder at `folder` (read at import, so patch the module)."""
    st.cache_data.clear()
    st.cache_resource.clear()

    def use(folder):
        monkeypatch.setattr(pretrained, "PRETRAINED_DIR", Path(folder))
        monkeypatch.setenv("FACEGAN_PRETRAINED", str(folder))
    yield use
    st.cache_data.clear()
    st.cache_resource.clear()


@pytest.fixture
def media(monkeypatch):
    """`read(element)`: the bytes an st.image or st.download_button of the last run serves."""
    managers = []

    class Recording(MediaFileManager):
        def __init__(self, storage):
            super().__init__(storage)
            managers.append(self)

    monkeypatch.setattr(app_test, "MediaFileManager", Recording)

    def read(element):
        proto = element.proto
        if getattr(proto, "deferred_file_id", ""):
            url = managers[-1].execute_deferred(proto.deferred_file_id)
        else:
            url = proto.imgs[0].url if hasattr(proto, "imgs") else proto.url
        return managers[-1].read_file(url.rsplit("/", 1)[-1]).content
    return read


@pytest.fixture
def page(generator_dir, use_generators, media):  # media first: it records the runs
    use_generators(generator_dir)
    return AppTest.from_file(APP, default_timeout=60).run()


def expected_faces(folder, seed, count):
    generator = pretrained.load("celeba64")
    return generate(generator, latents(count, generator.input_shape[-1], seed))


def decode(data):
    return iio.imread(data, extension=".png")


def test_page_shows_the_seeded_grid(page, media, generator_dir):
    assert not page.exception
    assert page.sidebar.radio[0].value == "celeba64"
    grid = decode(media(page.image[0]))
    assert np.array_equal(grid, image_grid(expected_faces(generator_dir, 0, 64)))
    assert page.caption[0].value.startswith("64 faces at 64×64 from seed 0, generated in ")
    assert '"epochs": 1' in page.sidebar.expander[0].json[0].proto.body


def test_seed_count_and_new_faces(page, media, generator_dir):
    page.number_input(key="seed").set_value(7)
    page.slider(key="count").set_value(10).run()
    faces = expected_faces(generator_dir, 7, 10)
    assert np.array_equal(decode(media(page.image[0])), image_grid(faces))  # 4 columns, 3 rows

    page.button[0].click().run()  # "New random faces"
    seed = page.number_input(key="seed").value
    assert seed != 7 and 0 <= seed < 2**31
    assert not np.array_equal(decode(media(page.image[0])), image_grid(faces))
    assert f"from seed {seed}," in page.caption[0].value


def test_widgets_bound_every_number(page):
    assert (page.number_input(key="seed").min, page.number_input(key="seed").max) == (0, 2**31 - 1)
    assert (page.slider(key="count").min, page.slider(key="count").max) == (1, 64)
    assert (page.slider(key="frames").min, page.slider(key="frames").max) == (2, 48)
    page.number_input(key="face").set_value(60)
    page.slider(key="frame").set_value(16)
    page.slider(key="count").set_value(5)
    page.slider(key="frames").set_value(4).run()  # the picked face and frame follow the new limits
    assert not page.exception
    assert page.number_input(key="face").value == 5 and page.number_input(key="face").max == 5
    assert page.slider(key="frame").value == 4
    assert not page.get("text_input") and not page.get("file_uploader")  # no paths to type


def test_every_face_and_the_walk_download(page, media, generator_dir):
    page.slider(key="count").set_value(6)
    page.number_input(key="face").set_value(3)
    page.slider(key="frames").set_value(5).run()
    faces = expected_faces(generator_dir, 0, 6)
    buttons = {button.label: button for button in page.get("download_button")}
    assert np.array_equal(decode(media(buttons["Face 3 (PNG)"])), faces[2])
    with zipfile.ZipFile(io.BytesIO(media(buttons["All 6 (ZIP of PNGs)"]))) as archive:
        names = sorted(archive.namelist())
        assert names == [f"celeba64_seed0_{i:02d}.png" for i in range(1, 7)]
        assert all(np.array_equal(decode(archive.read(n)), face) for n, face in zip(names, faces))
    assert np.array_equal(decode(media(buttons["The grid (PNG)"])), image_grid(faces))

    gif = iio.imread(media(buttons["Animated GIF"]), index=None, extension=".gif")
    assert gif.shape[:3] == (2 * 5 - 2, 64, 64)  # there (5 frames) and back (3)
    start = decode(media(page.image[1]))  # the still at position 1: seed 0's first face
    assert np.abs(start.astype(int) - faces[0]).max() <= 1  # batch of 1 vs 6: rounding only
    assert np.abs(gif[0, ..., :3].astype(int) - faces[0]).mean() < 3  # GIF's 256-colour palette


def test_only_128_installed_is_picked_and_served_whole(tmp_path, use_generators, media):
    build_generator(128, base_channels=2).save(tmp_path / "celeba128.keras")
    use_generators(tmp_path)
    page = AppTest.from_file(APP, default_timeout=60).run()
    page.slider(key="count").set_value(9).run()
    assert not page.exception and page.sidebar.radio[0].value == "celeba128"
    faces = generate(pretrained.load("celeba128"), latents(9, 100, 0))
    assert np.array_equal(decode(media(page.image[0])), image_grid(faces))  # not resized
    assert page.caption[0].value.startswith("9 faces at 128×128")


def test_missing_generator_says_how_to_get_one(tmp_path, use_generators):
    use_generators(tmp_path)
    page = AppTest.from_file(APP, default_timeout=60).run()
    assert not page.exception and not page.image
    message = page.warning[0].value
    assert "`celeba64` is not installed" in message and "python -m facegan train" in message
    assert "python -m facegan export --run runs/celeba64 --name celeba64" in message


def test_other_size_missing_and_unreadable_file(tmp_path, generator_dir, use_generators):
    use_generators(generator_dir)
    page = AppTest.from_file(APP, default_timeout=60).run()
    page.sidebar.radio[0].set_value("celeba128").run()
    assert not page.exception
    assert "`celeba128` is not installed" in page.warning[0].value
    assert "Installed here: celeba64" in page.warning[0].value

    (tmp_path / "celeba64.keras").write_bytes(b"not a keras file")
    use_generators(tmp_path)
    page = AppTest.from_file(APP, default_timeout=60).run()
    assert not page.exception
    assert page.warning[0].value.endswith("celeba64.keras is not a .keras file (truncated or "
                                          "corrupt: not a zip archive)")


def test_attribute_sliders_move_every_face_along_its_direction(page, media, generator_dir):
    sliders = [s for s in page.sidebar.slider if s.key.startswith("attribute_")]
    assert [s.label for s in sliders] == ["Smiling", "Male", "Young", "Eyeglasses", "Blond Hair"]
    assert all((s.min, s.max, s.value) == (-3.0, 3.0, 0.0) for s in sliders)  # no Bald slider
    page.slider(key="count").set_value(4)
    page.slider(key="attribute_Smiling").set_value(1.5)
    page.slider(key="attribute_Male").set_value(-1.0).run()
    directions = Directions.load(shipped_path("celeba64", generator_dir))
    z = latents(4, 100, 0)
    z = z + np.float32(1.5) * directions["Smiling"]
    z = z + np.float32(-1.0) * directions["Male"]
    generator = pretrained.load("celeba64")
    assert np.array_equal(decode(media(page.image[0])), image_grid(generate(generator, z)))
    assert page.caption[0].value.endswith("Edited: Smiling +1.5, Male -1.0.")

    page.slider(key="attribute_Smiling").set_value(0.0)
    page.slider(key="attribute_Male").set_value(0.0).run()  # back to the unedited faces
    assert np.array_equal(decode(media(page.image[0])), image_grid(expected_faces(generator_dir, 0, 4)))


def test_without_directions_the_page_says_how_to_fit_them(tmp_path, generator_dir, use_generators):
    (tmp_path / "celeba64.keras").write_bytes((generator_dir / "celeba64.keras").read_bytes())
    use_generators(tmp_path)
    page = AppTest.from_file(APP, default_timeout=60).run()
    assert not page.exception and page.image
    assert not [s for s in page.sidebar.slider if s.key.startswith("attribute_")]
    assert any("python -m facegan attributes directions --generator pretrained:celeba64"
               in caption.value for caption in page.sidebar.caption)
