# Two entry points for newcomers: `make sandbox` and `make test`.
# Each one bootstraps everything it needs from the committed lock file.
PYTHON ?= python3
UV_VERSION := 0.13.9
TOOLS := .tools
UV := $(TOOLS)/bin/uv
VENV := .venv
export UV_PROJECT_ENVIRONMENT := $(VENV)
export UV_PYTHON_DOWNLOADS := never

.PHONY: setup sandbox test lint bench browser screenshots clean i18n

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet --disable-pip-version-check "uv==$(UV_VERSION)"

$(VENV)/.synced: uv.lock pyproject.toml | $(UV)
	$(UV) sync --frozen --compile-bytecode --python "$$($(PYTHON) -c 'import sys; print(sys.executable)')"
	@touch $@

setup: $(VENV)/.synced

sandbox: setup
	$(VENV)/bin/python bot.py sandbox

# The browser tests drive Debian's chromium; install it when it is missing (needs root or sudo),
# with an emoji font so Stars (⭐) show in the screenshots.
EMOJI_FONT := /usr/share/fonts/truetype/noto/NotoColorEmoji.ttf
browser:
	@{ test -x /usr/bin/chromium && test -f $(EMOJI_FONT); } || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq --no-install-recommends \
	    chromium fonts-noto-color-emoji; }

# Refresh docs/sandbox-*.png from the browser acceptance test.
screenshots: setup browser
	FOREVER_SCREENSHOTS=docs $(VENV)/bin/pytest -q tests/e2e/test_sandbox_browser.py

lint: setup
	$(VENV)/bin/ruff check src tests bench bot.py
	$(VENV)/bin/ruff format --check src tests bench bot.py
	$(VENV)/bin/lint-imports
	$(VENV)/bin/mypy

test: setup browser lint
	$(VENV)/bin/pytest

# Extract every message (babel.cfg: shared templates; plus the English buttons and command
# menu) into locales/messages.pot and update locales/*/LC_MESSAGES/messages.po.
i18n: setup
	$(VENV)/bin/python -m forever.catalogs

bench: setup
	$(VENV)/bin/python -m bench

clean:
	rm -rf $(VENV) $(TOOLS) .pytest_cache .ruff_cache
