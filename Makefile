# fvdeploy: build, test, demo, lint. `make test` needs nothing installed beforehand but
# Go and Python 3: it installs the emulator and tools into .venv itself.
SHELL := /bin/bash
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
GO_LDFLAGS := -X main.version=$(VERSION)
VENV := .venv

.PHONY: all build test test-deps test-go test-api lint lint-workflows fmt demo bench bench-api clean

all: build

build:
	go build -ldflags "$(GO_LDFLAGS)" -o bin/fvdeploy ./cmd/fvdeploy

test-deps:
	scripts/test-deps.sh

# Go tests start their own moto server per package (internal/testenv) on a free loopback
# port and stop it when they end, also on failure; the image tests likewise start their
# own dockerd and registry. The offline Python base image they build the app on is cached
# in /var/cache/fvdeploy-test.
test: test-deps lint test-go test-api

test-go: test-deps
	go test -race -count=1 ./...

test-api: test-deps
	$(VENV)/bin/pytest -q api/tests

lint: test-deps lint-workflows
	@unformatted=$$(gofmt -l cmd internal); if [ -n "$$unformatted" ]; then echo "gofmt needed: $$unformatted"; exit 1; fi
	go vet ./...
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

# actionlint checks the workflows' syntax, expressions and action inputs, and their run:
# scripts with shellcheck when that is installed (as on GitHub's runners).
ACTIONLINT := github.com/rhysd/actionlint/cmd/actionlint@v1.7.12

lint-workflows:
	go run $(ACTIONLINT) .github/workflows/ci.yml .github/workflows/deploy.yml

fmt: test-deps
	gofmt -w cmd internal
	$(VENV)/bin/ruff format .

demo: build test-deps
	scripts/demo.sh

# Reconcile speed against the emulator: no-op up read calls per resource, and the serial
# depth of a full up with 100 ms added to every API call.
bench: test-deps
	go test -run '^$$' -bench . -benchtime 3x ./cmd/fvdeploy

bench-api: test-deps
	scripts/bench-api.sh

clean:
	rm -rf bin
