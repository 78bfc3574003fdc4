# make demo: train and classify on the built-in synthetic data; make test: the test suite;
# make lint: ruff's lint and format checks (pyproject.toml);
# make bench: the benchmarks of bench/ (see bench/README.md), never part of make test.
# All first set up the virtualenv from requirements.txt (once, and again when it changes).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
DEMO_EPOCHS ?= 15
DEMO_IMAGE_SIZE ?= 64

.PHONY: demo test lint bench venv clean

venv: $(VENV)/.installed

$(VENV)/.installed: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	touch $@

# dataset/ and examples/ are generated only if absent: a user's files are never touched.
demo: venv
	$(PY) -m pyimagesearch.data.demo --dataset dataset --examples examples
	$(PY) train.py --dataset dataset --model fashion.model --labelbin mlb.pickle \
		--epochs $(DEMO_EPOCHS) --image-size $(DEMO_IMAGE_SIZE)
	$(PY) classify.py --model fashion.model --labelbin mlb.pickle --image examples

# Two test processes (pytest-xdist), a test file each at a time: the tests' small trainings spend
# most of their time tracing graphs, single-threaded Python, so one process leaves a core idle
# (the suite took 18 minutes in one process, 10 in two, on 2 cores). TEST_WORKERS=0 runs one.
TEST_WORKERS ?= 2

test: venv
	$(PY) -m pytest -n $(TEST_WORKERS) --dist loadfile

lint: venv
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

# Benchmark-only packages (tf_keras for the tutorial's reference) go to bench/.deps with
# --no-deps: tf-keras asks for `tensorflow`, which would clash with tensorflow-cpu.
BENCH_DEPS := bench/.deps
BENCH_SCRIPTS ?= bench/bench_loading.py bench/bench_training.py bench/bench_auto_choices.py bench/bench_inference.py bench/bench_memory.py bench/honest_evaluation.py \
	bench/unseen_combos.py bench/unknown_detection.py bench/transfer_learning.py bench/bench_distributed.py bench/baselines.py \
	bench/robustness.py bench/background_speed.py bench/reliability.py bench/bench_short_training.py

$(BENCH_DEPS)/.installed: bench/requirements.txt $(VENV)/.installed
	rm -rf $(BENCH_DEPS)
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps --target $(BENCH_DEPS) -r bench/requirements.txt
	touch $@

bench: venv $(BENCH_DEPS)/.installed
	@for script in $(BENCH_SCRIPTS); do echo "== $$script"; $(PY) $$script || exit 1; done

clean:
	rm -rf $(VENV) $(BENCH_DEPS) output fashion.model fashion.onnx fashion.metrics.csv mlb.pickle plot.png
