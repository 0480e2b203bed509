# Two entry points for a fresh machine: `make demo` and `make test` (`make docs` builds the documentation site).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test docs venv clean

$(STAMP): requirements.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# torch first and alone, pinned, so that no resolver ever reaches for a CUDA build
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -r requirements.lock
	$(PY) -m pip install -q --no-deps -e .
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/editgan demo --out outputs/demo

test: $(STAMP)
	$(PY) -m pytest

# The documentation site, offline (no fonts or plugins that fetch), into site/; --strict fails on any
# broken page, nav entry, link, anchor or API reference (tests/test_docs.py builds it the same way).
docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict --site-dir site

clean:
	rm -rf $(VENV) outputs site
