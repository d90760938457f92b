"""Make faces in the browser with a shipped generator: `streamlit run app.py`.

Every number a visitor can ask for is bounded by its widget, and the page reads only the
shipped generators (`pretrained/`, or the folder in `$FACEGAN_PRETRAINED`): no path typed
into the page is ever opened, and nothing is written to disk.
"""

import functools
import io
import os
import time
import zipfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import imageio.v3 as iio  # noqa: E402
import keras  # noqa: E402
import numpy as np  # noqa: E402
import streamlit as st  # noqa: E402
from PIL import Image  # noqa: E402

from facegan.editing.directions import Directions, shipped_path  # noqa: E402
from facegan.errors import FaceganError  # noqa: E402
from facegan.figures.grids import image_grid  # noqa: E402
from facegan.networks import pretrained  # noqa: E402
from facegan.networks.sampling import generate, interpolate, latents  # noqa: E402

GENERATORS = {  # name -> (label, caption)
    "celeba64": ("64×64", "CelebA at its native detail"),
    "celeba128": ("128×128", "trained on CelebA's 89-pixel crops upscaled to 128"),
}
MAX_FACES = 64
MAX_SEED = 2**31 - 1
MAX_FRAMES = 48
ATTRIBUTES = ("Smiling", "Male", "Young", "Eyeglasses", "Blond_Hair")  # sliders, when fitted
MAX_STRENGTH = 3.0  # latent standard deviations along a direction
GIF_FRAME_MS = 80
PAGE_WIDTH = 704  # Streamlit's centred column, in CSS pixels


@st.cache_resource(max_entries=2, show_spinner="Loading the generator…")
def load_generator(name, file, modified):
    """One model per shipped file, shared by all sessions; `file` and `modified` are in the
    cache key so that a replaced file, or another generator folder, is loaded afresh.
    One warm-up batch pays the first call's one-off costs here rather than in the grid."""
    generator = pretrained.load(name)
    generate(generator, latents(MAX_FACES, generator.input_shape[-1]))
    return generator


@st.cache_resource(max_entries=2, show_spinner=False)
def load_directions(file, modified):
    """The generator's attribute directions; `modified` keys the cache, as for generators."""
    return Directions.load(file)


def directions_key(name):
    """(file, modification time) of the directions beside generator `name`; time 0: none."""
    file = shipped_path(name)
    return str(file), file.stat().st_mtime_ns if file.is_file() else 0


@st.cache_data(max_entries=32, show_spinner=False)
def make_faces(model_key, seed, count, edits=(), edits_key=None):
    """uint8 faces (count, R, R, 3) for a seed, moved by `edits` ((attribute, strength)
    pairs) along the directions of `edits_key`, their grid as a PNG, and the seconds
    `generate` took. Cached so that moving any other widget does not make them again."""
    generator = load_generator(*model_key)
    z = latents(count, generator.input_shape[-1], seed)
    for attribute, strength in edits:
        z = z + np.float32(strength) * load_directions(*edits_key)[attribute]
    start = time.perf_counter()
    faces = generate(generator, z)
    seconds = time.perf_counter() - start
    return faces, png(image_grid(faces)), seconds


@st.cache_data(max_entries=16, show_spinner=False)
def make_walk(model_key, seed_from, seed_to, frames, spherical):
    """uint8 frames (frames, R, R, 3) on the latent path between the first faces of two
    seeds, and the animated GIF that plays it there and back."""
    generator = load_generator(*model_key)
    dim = generator.input_shape[-1]
    z = interpolate(latents(1, dim, seed_from)[0], latents(1, dim, seed_to)[0], frames, spherical)
    images = generate(generator, z)
    loop = np.concatenate([images, images[-2:0:-1]])  # (2*frames-2, R, R, 3): no jump back
    gif = iio.imwrite("<bytes>", loop, extension=".gif", duration=GIF_FRAME_MS, loop=0)
    return images, gif


def png(image):
    # The fastest zlib level: half the time of the default, 4% bigger files of faces.
    return iio.imwrite("<bytes>", image, extension=".png", compress_level=1)


def zip_of_pngs(faces, stem):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for i, face in enumerate(faces, 1):
            archive.writestr(f"{stem}_{i:02d}.png", png(face))
    return buffer.getvalue()


def display_width(png_bytes):
    """Twice the pixels for small images; the page's width for wider ones, which the browser
    scales (given a smaller width, Streamlit would resize and re-encode them itself)."""
    width = Image.open(io.BytesIO(png_bytes)).width
    return "stretch" if width > PAGE_WIDTH else int(np.clip(2 * width, 256, PAGE_WIDTH))


def new_seed():
    st.session_state.seed = int(np.random.default_rng().integers(MAX_SEED + 1))


def missing_message(name):
    resolution = name.removeprefix("celeba")
    others = [n for n in pretrained.available() if n != name]
    return (
        f"**The generator `{name}` is not installed**: there is no `{name}.keras` in "
        f"`{pretrained.PRETRAINED_DIR}`.\n\n"
        "The shipped generators live in the repository's `pretrained/` folder; update your "
        "clone to get them, or train your own on CelebA and ship it there with its card:\n\n"
        f"```bash\npython -m facegan train --data img_align_celeba.zip --resolution {resolution} "
        f"--out runs/{name}\npython -m facegan export --run runs/{name} --name {name}\n```\n\n"
        "`FACEGAN_PRETRAINED=/some/folder streamlit run app.py` uses another folder."
        + (f"\n\nInstalled here: {', '.join(others)} (pick it in the sidebar)." if others else "")
    )


st.set_page_config(page_title="facegan: make faces", layout="centered")
for key, default in (("seed", 0), ("count", 64), ("face", 1), ("seed_from", 0),
                     ("seed_to", 1), ("frames", 16), ("frame", 1)):
    st.session_state.setdefault(key, default)

# Sidebar: which generator, and how it was trained.
installed = pretrained.available()
names = list(GENERATORS)
name = st.sidebar.radio(
    "Generator", names, index=next((names.index(n) for n in names if n in installed), 0),
    format_func=lambda n: GENERATORS[n][0] + ("" if n in installed else " (not installed)"),
    captions=[GENERATORS[n][1] for n in names],
)

st.title("Make faces")
try:
    file = pretrained.path(name)
    model_key = (name, str(file), file.stat().st_mtime_ns)
    generator = load_generator(*model_key)
except FaceganError as error:
    st.warning(missing_message(name) if name not in pretrained.available() else str(error))
    st.stop()
resolution = generator.output_shape[1]
with st.sidebar.expander("How it was trained"):
    st.json(pretrained.card(name) or {"card": f"no {name}.json next to the generator"})
st.sidebar.caption(f"Keras backend: {keras.backend.backend()}")

# Sidebar: attribute sliders, which move every face of the grid along a latent direction.
st.sidebar.subheader("Attributes")
edits_key, edits, directions = directions_key(name), (), None
if edits_key[1]:
    try:
        directions = load_directions(*edits_key)
        if directions.vectors.shape[1] != generator.input_shape[-1]:
            raise FaceganError(f"{edits_key[0]} holds directions for another generator "
                               f"({directions.vectors.shape[1]}-d latents)")
    except FaceganError as error:
        st.sidebar.warning(str(error))
        directions = None
else:
    st.sidebar.caption(f"No attribute directions for `{name}` (`{name}.directions.npz`); "
                       f"fit them with `python -m facegan attributes directions "
                       f"--generator pretrained:{name} --out {shipped_path(name)}`.")
if directions is not None:
    for attribute in (a for a in ATTRIBUTES if a in directions.names):
        strength = st.sidebar.slider(attribute.replace("_", " "), -MAX_STRENGTH, MAX_STRENGTH,
                                     0.0, 0.5, key=f"attribute_{attribute}")
        edits += ((attribute, strength),) if strength else ()
    st.sidebar.caption(f"Each slider moves the grid's faces along a direction in latent space "
                       f"(in standard deviations), fitted on {directions.samples:,} faces "
                       f"labelled by the attribute classifier.")

# The grid: a seed and a count.
left, right = st.columns(2)
seed = left.number_input("Seed", 0, MAX_SEED, step=1, key="seed",
                         help="The same seed always gives the same faces.")
count = right.slider("Faces", 1, MAX_FACES, key="count")
st.button("New random faces", on_click=new_seed, type="primary")

faces, grid, seconds = make_faces(model_key, seed, count, edits, edits_key)
st.image(grid, width=display_width(grid), output_format="PNG")  # else JPEG
edited = ", ".join(f"{a.replace('_', ' ')} {s:+.1f}" for a, s in edits)
st.caption(f"{count} faces at {resolution}×{resolution} from seed {seed}, generated in "
           f"{seconds * 1000:.0f} ms on the CPU." + (f" Edited: {edited}." if edits else ""))

# Downloads: any one face, all of them (zipped only when clicked), or the grid.
stem = f"{name}_seed{seed}"
st.session_state.face = min(st.session_state.face, count)
pick, one, every, whole = st.columns([1.2, 1, 1, 1], vertical_alignment="bottom")
face = pick.number_input("Face", 1, count, step=1, key="face",
                         help="Faces are numbered row by row from the top left.")
one.download_button(f"Face {face} (PNG)", png(faces[face - 1]), f"{stem}_{face:02d}.png",
                    "image/png", on_click="ignore")
every.download_button(f"All {count} (ZIP of PNGs)", functools.partial(zip_of_pngs, faces, stem),
                      f"{stem}.zip", "application/zip", on_click="ignore")
whole.download_button("The grid (PNG)", grid, f"{stem}_grid.png", "image/png",
                      on_click="ignore")

# A walk through latent space between the first faces of two seeds.
st.header("Walk from one face to another")
st.caption("The path starts at the first face of one seed and ends at the first face of "
           "another; a spherical path keeps every latent as likely as the ends.")
a, b, c = st.columns(3)
seed_from = a.number_input("From seed", 0, MAX_SEED, step=1, key="seed_from")
seed_to = b.number_input("To seed", 0, MAX_SEED, step=1, key="seed_to")
frames = c.slider("Frames", 2, MAX_FRAMES, key="frames")
spherical = st.toggle("Spherical path (slerp)", value=True)
walk, gif = make_walk(model_key, seed_from, seed_to, frames, spherical)
st.session_state.frame = min(st.session_state.frame, frames)
frame = st.slider("Position on the path", 1, frames, key="frame")
still, animated = st.columns(2)
still.image(png(walk[frame - 1]), width=256, caption=f"frame {frame} of {frames}",
            output_format="PNG")
animated.image(gif, width=256, caption="there and back")
st.download_button("Animated GIF", gif, f"{name}_walk_{seed_from}_to_{seed_to}.gif",
                   "image/gif", on_click="ignore")
