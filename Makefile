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
data: venv
	$(PY) -m classicnets data prepare mnist fashion_mnist digits

# The main job: LeNet-5 on the full MNIST training set under Accelerate, then a fresh process loads the
# checkpoint with transformers.AutoModelForImageClassification and prints its test accuracy.
demo: data
	$(VENV)/bin/accelerate launch --num_processes 1 --num_cpu_threads_per_process $(NPROC) -m classicnets train cnn --preset lenet5 --dataset mnist \
		--output-dir $(RUN) --overwrite-output-dir --epochs 8 --learning-rate 3e-3 --lr-scheduler one_cycle \
		--augment shift --per-device-train-batch-size 128 --seed 0
	$(PY) -m classicnets evaluate $(RUN) --dataset mnist --split test

test: data
	$(PY) -m pytest -q

test-fast: data
	$(PY) -m pytest -q -m "not slow and not multiprocess"

bench: data
	$(PY) benchmarks/run_all.py

clean:
	rm -rf $(VENV) runs .pytest_cache
