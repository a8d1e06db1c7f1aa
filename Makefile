# Qamqor — two commands: `make run` starts everything, `make test` checks everything.
SHELL := /bin/bash
UV := $(shell command -v uv 2>/dev/null || echo "python3 -m uv")
PYTEST_ARGS ?=

.PHONY: run test install chromium unit integration e2e browser bench demo lint asyncapi clean

install:
	@command -v uv >/dev/null 2>&1 || python3 -m uv --version >/dev/null 2>&1 || python3 -m pip install --quiet uv
	@$(UV) sync --frozen --all-groups --quiet

run: install
	@$(UV) run qamqor up

# The dashboard's browser tests (tests/browser) drive the system Chromium through Playwright
# (which downloads no browser of its own): Debian's `chromium`, installed only when it is missing.
CHROMIUM := /usr/bin/chromium
chromium:
	@if [ ! -x $(CHROMIUM) ]; then \
		if [ "$$(id -u)" = 0 ]; then SUDO=""; \
		elif command -v sudo >/dev/null 2>&1; then SUDO="sudo"; \
		else echo "$(CHROMIUM) is missing and apt-get needs root: install the chromium package" >&2; exit 1; fi; \
		echo "installing chromium (apt-get) for the browser tests"; \
		$$SUDO apt-get update -q && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -q chromium; \
	fi

test: install chromium
	@$(UV) run lint-imports
	@$(UV) run pytest $(PYTEST_ARGS)

unit: install
	@$(UV) run pytest tests/unit $(PYTEST_ARGS)

integration: install
	@$(UV) run pytest tests/integration $(PYTEST_ARGS)

e2e: install
	@$(UV) run pytest tests/e2e $(PYTEST_ARGS)

browser: install chromium
	@$(UV) run pytest tests/browser $(PYTEST_ARGS)

demo: install
	@$(UV) run qamqor demo

bench: install
	@$(UV) run python bench/eligibility/bench_engine.py
	@$(UV) run python bench/gateway/bench_gateway.py
	@$(UV) run python bench/idle/bench_idle.py
	@$(UV) run python bench/pipeline/bench_pipeline.py --rate 20 --duration 20 --drain 120 --watch db

# The events' AsyncAPI document (docs/events.md), regenerated after a contract change.
asyncapi: install
	@$(UV) run python -m shared.events.asyncapi > docs/asyncapi.json

clean:
	rm -rf .pytest_cache .hypothesis
