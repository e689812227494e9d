# Two commands do all the set-up: `make demo` and `make test`.
# Both install what is missing (Debian packages, then a virtualenv that sees
# python3-bt2) and are idempotent: a second run installs nothing.

VENV    := .venv
PY      := $(VENV)/bin/python
CORR    := $(VENV)/bin/corr
STAMP   := $(VENV)/.corr-installed
EXAMPLE := examples/llserver/trace

.PHONY: demo test deps system-deps bench clean

demo: deps
	$(CORR) inspect $(EXAMPLE)
	$(CORR) run rules/llserver.yaml $(EXAMPLE)
	$(CORR) run rules/offcpu.yaml $(EXAMPLE) --top 3

test: deps
	$(PY) -m pytest -q

bench: deps
	$(PY) benchmarks/bench_read.py
	$(PY) benchmarks/bench_rules.py

deps: system-deps $(STAMP)

system-deps:
	@bash scripts/install-system-deps.sh

$(STAMP): pyproject.toml setup.py corr/reading/_fastsink.c corr/engine/_core.c corr/sched/_native.c
	@test -x $(PY) || /usr/bin/python3 -m venv --system-site-packages $(VENV)
	$(PY) -m pip install -q --config-settings editable_mode=compat -e ".[dev]"
	@touch $(STAMP)

clean:
	rm -rf $(VENV) build *.egg-info
