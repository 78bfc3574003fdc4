# make demo: train and classify on the built-in synthetic data; make test: the test suite.
# Both first set up the virtualenv from requirements.txt (once, and again when it changes).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
DEMO_EPOCHS ?= 15
DEMO_IMAGE_SIZE ?= 64

.PHONY: demo test venv clean

venv: $(VENV)/.installed

$(VENV)/.installed: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	touch $@

# dataset/ and examples/ are generated only if absent: a user's files are never touched.
demo: venv
	$(PY) -m pyimagesearch.demo_data --dataset dataset --examples examples
	$(PY) train.py --dataset dataset --model fashion.model --labelbin mlb.pickle \
		--epochs $(DEMO_EPOCHS) --image-size $(DEMO_IMAGE_SIZE)
	$(PY) classify.py --model fashion.model --labelbin mlb.pickle --image examples

test: venv
	$(PY) -m pytest

clean:
	rm -rf $(VENV) output fashion.model mlb.pickle plot.png
