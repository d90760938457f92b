# Two commands on a fresh machine with Python 3.11: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: demo test test-fast install browser notebooks clean

$(VENV)/.installed: requirements.txt requirements-dev.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements-dev.txt
	touch $@

install: $(VENV)/.installed

demo: install
	$(PY) -m facegan demo

# Debian's Chromium and its driver, for the web app's browser test (CI runs as root). Without
# root or apt-get the test is skipped, saying why.
browser:
	@if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium chromium-driver; \
	else echo "no chromium and no root apt-get: tests/test_app_browser.py will be skipped"; fi

test: install browser
	$(PY) -m pytest -q -n 2 --dist loadfile --durations=10

# The tests not marked slow (pyproject.toml): a couple of minutes, for while you work.
test-fast: install
	$(PY) -m pytest -q -n 2 --dist loadfile -m "not slow"

# Re-execute the six notebooks in full mode, in place, as committed (hours on a CPU; not CI).
# DATA: your CelebA zip or folder, relative to the repository root (keep it relative: the
# outputs print it). Delete runs/notebook_64 or runs/notebook_128 to train those afresh.
DATA ?= data/celeba-8k.zip
EPOCHS_64 ?= 30
EPOCHS_128 ?= 8
PAPERMILL = cd notebooks && ../$(PY) -m papermill --no-progress-bar --log-level WARNING
NOTEBOOK_DATA = $(if $(filter /%,$(DATA)),$(DATA),../$(DATA))

notebooks: install
	$(PAPERMILL) 00_gan_concepts.ipynb 00_gan_concepts.ipynb
	$(PAPERMILL) 01_data_exploration.ipynb 01_data_exploration.ipynb -p data $(NOTEBOOK_DATA) \
		-p show_dataset_images False
	$(PAPERMILL) 02_train_64x64.ipynb 02_train_64x64.ipynb -p data $(NOTEBOOK_DATA) \
		-p base_channels 32 -p epochs $(EPOCHS_64) -p tensorboard False
	$(PAPERMILL) 03_train_128x128.ipynb 03_train_128x128.ipynb -p data $(NOTEBOOK_DATA) \
		-p base_channels 32 -p epochs $(EPOCHS_128) -p tensorboard False
	$(PAPERMILL) 04_results_gallery.ipynb 04_results_gallery.ipynb -p data $(NOTEBOOK_DATA) \
		-p show_training_images False
	$(PAPERMILL) 05_latent_space.ipynb 05_latent_space.ipynb -p data $(NOTEBOOK_DATA)

clean:
	rm -rf $(VENV) runs
