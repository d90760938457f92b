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

# Re-execute the seven notebooks in full mode, in place, as committed (hours on a CPU; not CI).
# DATA: your CelebA zip or folder, relative to the repository root (keep it relative: the
# outputs print it); DATA_128: full-size CelebA (178x218) for 128x128, whose pixels it needs.
# Delete runs/notebook_128 or runs/data_size to train those afresh; else
# they are resumed (06's runs, about 40 minutes each, are benchmarks/data_size.py's; 02 reads
# back its 44,253-image run, which made the shipped celeba64).
DATA ?= data/celeba-8k.zip
DATA_128 ?= data/celeba-46k
EPOCHS_128 ?= 17
PAPERMILL = cd notebooks && ../$(PY) -m papermill --no-progress-bar --log-level WARNING
NOTEBOOK_DATA = $(if $(filter /%,$(DATA)),$(DATA),../$(DATA))
NOTEBOOK_DATA_128 = $(if $(filter /%,$(DATA_128)),$(DATA_128),../$(DATA_128))

notebooks: install
	$(PAPERMILL) 00_gan_concepts.ipynb 00_gan_concepts.ipynb
	$(PAPERMILL) 01_data_exploration.ipynb 01_data_exploration.ipynb -p data $(NOTEBOOK_DATA) \
		-p show_dataset_images False
	$(PAPERMILL) 06_data_size.ipynb 06_data_size.ipynb -p data $(NOTEBOOK_DATA_128)
	$(PAPERMILL) 02_train_64x64.ipynb 02_train_64x64.ipynb -p run_dir ../runs/data_size/n44253 \
		-p epochs 11 -p holdout 2000 -p eval_every 1 -p tensorboard False
	$(PAPERMILL) 03_train_128x128.ipynb 03_train_128x128.ipynb -p data $(NOTEBOOK_DATA_128) \
		-p holdout 2000 -p epochs $(EPOCHS_128) -p eval_every 1 -p tensorboard False
	$(PAPERMILL) 04_results_gallery.ipynb 04_results_gallery.ipynb -p run_64 ../runs/data_size/n44253 \
		-p data_64 $(NOTEBOOK_DATA_128) -p data_128 $(NOTEBOOK_DATA) -p show_training_images False
	$(PAPERMILL) 05_latent_space.ipynb 05_latent_space.ipynb -p data $(NOTEBOOK_DATA)

clean:
	rm -rf $(VENV) runs
