# Two commands do all the set-up: `make demo` and `make test`.
# Both install what is missing (Debian packages, then a virtualenv that sees
# python3-bt2) and are idempotent: a second run installs nothing.

VENV    := .venv
VIEWER  := tests/viewer
PY      := $(VENV)/bin/python
CORR    := $(VENV)/bin/corr
STAMP   := $(VENV)/.corr-installed
EXAMPLE := examples/llserver/trace

.PHONY: demo test deps system-deps bench bench-scale clean

demo: deps
	$(CORR) inspect $(EXAMPLE)
	$(CORR) run rules/llserver.yaml $(EXAMPLE)
	$(CORR) run rules/offcpu.yaml $(EXAMPLE) --top 3
	$(CORR) run rules/llserver.yaml $(EXAMPLE) --top 5 -o report.html
	$(CORR) run rules/offcpu.yaml $(EXAMPLE) --top 5 -o report-offcpu.html
	@echo "open report.html and report-offcpu.html in a browser (docs/report.md says how to read them)"

test: deps
	$(PY) -m pytest -q

bench: deps
	$(PY) benchmarks/bench_read.py
	$(PY) benchmarks/bench_rules.py
	$(PY) benchmarks/bench_cache.py
	$(PY) benchmarks/bench_tune.py
	$(PY) benchmarks/bench_outputs.py

# The growth with the trace: 5M, 20M and 50M generated events (about 30 minutes).
bench-scale: deps
	$(PY) benchmarks/bench_scale.py

deps: system-deps $(STAMP) $(VIEWER)/node_modules/.package-lock.json
	@$(PY) -m compileall -q corr >/dev/null

system-deps:
	@bash scripts/install-system-deps.sh

# corr's bytecode is compiled once here (an editable install does not, and with
# PYTHONDONTWRITEBYTECODE set every run compiled its 90 modules again: 0.13 s of
# every start); compileall skips what is up to date.
$(STAMP): pyproject.toml setup.py scripts/corr scripts/corr_native.c corr/reading/_fastsink.c corr/engine/_core.c corr/sched/_native.c
	@test -x $(PY) || /usr/bin/python3 -m venv --system-site-packages $(VENV)
	$(PY) -m pip install -q --config-settings editable_mode=compat -e ".[dev]"
	@touch $(STAMP)

# speedscope, the viewer tests/test_exports_in_viewer.py opens the exports in
# (pinned by its package-lock.json; node_modules is not committed).
$(VIEWER)/node_modules/.package-lock.json: $(VIEWER)/package-lock.json
	npm ci --prefix $(VIEWER) --no-audit --no-fund
	@touch $@

clean:
	rm -rf $(VENV) build *.egg-info report.html report-offcpu.html
