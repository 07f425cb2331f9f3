# podhost — the two commands: `make demo` (the seed Pod, offline) and `make test` (every tier).
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
IMAGES := build/test-images
APT_PACKAGES := runc conmon busybox-static mmdebstrap docker-registry skopeo iproute2 nftables util-linux \
                ca-certificates btrfs-progs chromium curl python3-yaml python3-cryptography \
                haproxy wrk prometheus

.PHONY: install apt venv link images test test-unit test-integration test-e2e demo clean lint

install: apt venv link ## Debian packages, the virtual environment, /usr/local/bin/podhost

apt:
	@missing=""; for p in $(APT_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi

venv: $(BIN)/podhost

$(BIN)/podhost: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test,lint]'
	touch $@

link: venv
	ln -sf $(CURDIR)/$(BIN)/podhost /usr/local/bin/podhost

images: venv ## test images built offline from Debian packages (cached)
	$(BIN)/python hack/build-test-images.py --out $(IMAGES)

test: install images ## unit, integration and end-to-end tests (e2e files in parallel groups)
	$(BIN)/pytest -q tests/unit
	$(BIN)/pytest -q -m integration tests/integration
	$(BIN)/python hack/run-e2e.py

test-unit: venv
	$(BIN)/pytest -q tests/unit

test-integration: install images
	$(BIN)/pytest -q -m integration tests/integration

test-e2e: install images ## each group of files in a network namespace of its own
	$(BIN)/python hack/run-e2e.py

demo: install images ## start the node and run the seed's verification steps
	$(BIN)/python hack/demo.py

lint: venv ## ruff, mypy, the layer contracts, no import cycles, the size limits
	$(BIN)/ruff check src tests hack bench
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/python hack/lint-structure.py

clean:
	rm -rf build .pytest_cache
