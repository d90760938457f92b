"""End to end: `streamlit run app.py` on localhost, opened in Debian's headless Chromium.

The page must show the grid of faces as pixels on screen: the screenshot of the grid has
the 8x8 tiles that image_grid lays out for 64 faces, and looks like the faces the tiny
generator makes for seed 0 (not like another seed's, nor blank), and moving the Smiling
slider shows those faces moved along its direction. The server and the browser are stopped
whatever happens.
"""

import io
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
APP = Path(__file__).resolve().parent.parent / "app.py"
ATTRIBUTES = ("Smiling", "Male", "Young", "Eyeglasses", "Blond_Hair")

pytestmark = pytest.mark.skipif(
    not (CHROMIUM.is_file() and CHROMEDRIVER.is_file()),
    reason="needs Debian's chromium and chromium-driver in /usr/bin: `make test` installs "
           "them when run as root, or `apt-get install chromium chromium-driver`")
webdriver = pytest.importorskip("selenium.webdriver", reason="selenium (requirements-dev.txt)")
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

GRID = '[data-testid="stMain"] [data-testid="stImage"] img'
CAPTION = '[data-testid="stMain"] [data-testid="stCaptionContainer"]'
SLIDER = '[data-testid="stSidebar"] .st-key-{} input[type="range"]'  # a widget by its key
CHROMIUM_FLAGS = (  # root in a container, no display, no GPU, a closed network
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--no-first-run", "--force-device-scale-factor=1", "--window-size=1280,1600")


def tiny_directions():
    """Random unit directions for the page's attribute sliders."""
    from facegan.editing.directions import Directions

    vectors = np.random.default_rng(0).standard_normal((len(ATTRIBUTES), 100)).astype(np.float32)
    return Directions(ATTRIBUTES, vectors / np.linalg.norm(vectors, axis=1, keepdims=True),
                      np.ones(len(ATTRIBUTES)), np.full(len(ATTRIBUTES), 0.5), "logistic", 1000)


def tiny_generator(folder):
    """An untrained 64x64 generator rescaled to unit gain, so faces have visible texture,
    and random directions for the page's attribute sliders."""
    from facegan.editing.directions import shipped_path
    from facegan.networks.dcgan import build_generator

    generator = build_generator(64, base_channels=4)
    for layer in generator.layers:
        if hasattr(layer, "kernel"):
            kernel = np.asarray(layer.kernel)
            fan_in = kernel.shape[0] if kernel.ndim == 2 else np.prod(kernel.shape[:2]) * kernel.shape[3] / 4
            layer.kernel.assign(kernel / kernel.std() / np.sqrt(fan_in))
    folder.mkdir()
    generator.save(folder / "celeba64.keras")
    tiny_directions().save(shipped_path("celeba64", folder))
    return generator


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def generator_and_url(tmp_path):
    """(tiny generator, URL of the app serving it); the server is stopped at teardown."""
    generator = tiny_generator(tmp_path / "pretrained")
    port = free_port()
    log_path = tmp_path / "streamlit.log"
    env = dict(os.environ, FACEGAN_PRETRAINED=str(tmp_path / "pretrained"))
    with open(log_path, "w") as log:
        server = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", str(APP), "--server.headless=true",
             f"--server.port={port}", "--server.address=127.0.0.1",
             "--server.fileWatcherType=none", "--browser.gatherUsageStats=false"],
            cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2):
                    break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"streamlit did not start:\n{log_path.read_text()}")
                time.sleep(0.3)
        yield generator, f"http://127.0.0.1:{port}/"
    finally:
        server.terminate()
        try:
            server.wait(5)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


@pytest.fixture
def browser():
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    options.binary_location = str(CHROMIUM)
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service(str(CHROMEDRIVER)))
    try:
        yield driver
    finally:
        driver.quit()


def rendered_grid(driver, not_src=None):
    """The grid's <img> once its pixels have arrived (and it is not the `not_src` one)."""
    for image in driver.find_elements(By.CSS_SELECTOR, GRID)[:1]:
        src = image.get_attribute("src")
        if src != not_src and driver.execute_script(
                "return arguments[0].complete && arguments[0].naturalWidth > 0", image):
            return image
    return None


def screenshot(element):
    return np.asarray(Image.open(io.BytesIO(element.screenshot_as_png)).convert("RGB"))


def tiles(screenshot):
    """(rows, columns) of tiles: runs of pixels between the grid's white gap lines."""
    ink = screenshot.min(axis=2) < 235

    def runs(profile):
        edges = np.diff(np.concatenate([[0], profile.astype(int), [0]]))
        starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
        return [(s, e) for s, e in zip(starts, ends) if e - s > 8]
    return runs(ink.mean(axis=1) > 0.5), runs(ink.mean(axis=0) > 0.5)


def test_page_renders_64_faces_and_new_ones(generator_and_url, browser):
    from facegan.figures.grids import image_grid
    from facegan.networks.sampling import generate, latents

    generator, url = generator_and_url
    start = time.perf_counter()
    browser.get(url)
    grid = WebDriverWait(browser, 60, poll_frequency=0.05).until(rendered_grid)
    first_page_s = time.perf_counter() - start

    shot = screenshot(grid)
    assert shot.std() > 10, "the grid's screenshot is blank"
    rows, columns = tiles(shot)
    assert (len(rows), len(columns)) == (8, 8), f"tiles found: {len(rows)} x {len(columns)}"
    assert all(shot[r0:r1, c0:c1].std() > 5 for r0, r1 in rows for c0, c1 in columns)

    # The pixels on screen are seed 0's faces: seed 0's grid, scaled as the browser scales
    # it, is much closer to the screenshot than seed 1's.
    def as_shown(faces):
        grid = Image.fromarray(image_grid(faces))
        return np.asarray(grid.resize(shot.shape[1::-1], Image.Resampling.BILINEAR), np.float32)
    error, error_other = (np.abs(shot - as_shown(generate(generator, latents(64, 100, seed)))).mean()
                          for seed in (0, 1))
    assert error < 0.5 * error_other, (error, error_other)
    caption = browser.find_element(By.CSS_SELECTOR, CAPTION).text
    assert caption.startswith("64 faces at 64×64 from seed 0, generated in "), caption

    old_src = grid.get_attribute("src")
    start = time.perf_counter()
    browser.find_element(By.XPATH, "//button[normalize-space()='New random faces']").click()
    grid = WebDriverWait(browser, 30, poll_frequency=0.05).until(
        lambda driver: rendered_grid(driver, not_src=old_src))
    new_faces_s = time.perf_counter() - start
    new_shot = screenshot(grid)
    assert tiles(new_shot) == (rows, columns)
    assert np.abs(new_shot.astype(int) - shot).mean() > 3, "new faces look like the old ones"

    # The Smiling slider (keyboard: 6 steps of 0.5) moves every face along its direction.
    seed = int(re.search(r"from seed (\d+),", browser.find_element(By.CSS_SELECTOR, CAPTION).text)[1])
    old_src = grid.get_attribute("src")
    thumb = browser.find_element(By.CSS_SELECTOR, SLIDER.format("attribute_Smiling"))
    browser.execute_script("arguments[0].focus()", thumb)
    thumb.send_keys(*[Keys.ARROW_RIGHT] * 6)
    grid = WebDriverWait(browser, 30, poll_frequency=0.05).until(
        lambda driver: "Smiling +3.0" in driver.find_element(By.CSS_SELECTOR, CAPTION).text
        and rendered_grid(driver, not_src=old_src))
    edited_shot = screenshot(grid)
    z = latents(64, 100, seed)
    edited_z = z + np.float32(3.0) * tiny_directions()["Smiling"]
    error_edited, error_unedited = (np.abs(edited_shot - as_shown(faces)).mean() for faces in (
        generate(generator, edited_z), generate(generator, z)))
    assert error_edited < 0.7 * error_unedited, (error_edited, error_unedited)

    print(f"\nscreen vs seed 0: {error:.1f}, vs seed 1: {error_other:.1f} grey levels; first page "
          f"(cold server: imports, model load): {first_page_s:.2f} s; new random faces on screen: "
          f"{new_faces_s:.2f} s; Smiling +3 on screen vs edited faces: {error_edited:.1f}, vs "
          f"unedited: {error_unedited:.1f}; {browser.find_element(By.CSS_SELECTOR, CAPTION).text}")
