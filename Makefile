# fvdeploy: build, test, demo, lint. `make test` needs nothing installed beforehand but
# Go and Python 3: it installs the emulator and tools into .venv itself.
SHELL := /bin/bash
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
GO_LDFLAGS := -X main.version=$(VERSION)
VENV := .venv
# The environment that build, push and deploy act on: make deploy ENV=prod
ENV ?= dev
FVDEPLOY := bin/fvdeploy

.PHONY: help all fvdeploy build push deploy doctor test test-deps test-go test-api lint lint-workflows fmt demo audit bench bench-api image-figures clean
.DEFAULT_GOAL := help

help: ## list the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-z-]+:.*## / {printf "  make %-15s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

all: fvdeploy

fvdeploy: ## compile bin/fvdeploy
	go build -ldflags "$(GO_LDFLAGS)" -o $(FVDEPLOY) ./cmd/fvdeploy

# The deployment targets are thin wrappers around fvdeploy; pass more flags with ARGS.
build: fvdeploy ## build the service image with the local Docker engine (no push)
	$(FVDEPLOY) build --env $(ENV) $(ARGS)

push: fvdeploy ## create the ECR repository, build when changed, push (fvdeploy phase image)
	$(FVDEPLOY) phase image --env $(ENV) $(ARGS)

deploy: fvdeploy ## build, push and roll the service out: make deploy ENV=prod
	$(FVDEPLOY) deploy --env $(ENV) $(ARGS)

doctor: fvdeploy ## preflight checks for ENV: credentials, state, Docker, git, domain
	$(FVDEPLOY) doctor --env $(ENV) $(ARGS)

test-deps:
	scripts/test-deps.sh

# Go tests start their own moto server per package (internal/testenv) on a free loopback
# port and stop it when they end, also on failure; the image tests likewise start their
# own dockerd and registry. The offline Python base image they build the app on is cached
# in /var/cache/fvdeploy-test.
test: test-deps lint test-go test-api ## install what the tests need, lint, run every test

test-go: test-deps
	go test -race -count=1 -timeout 30m ./...

test-api: test-deps
	$(VENV)/bin/pytest -q api/tests internal/alertrelay/tests internal/secretrotation/tests scripts/tests

lint: test-deps lint-workflows ## gofmt, go vet, ruff, actionlint
	@unformatted=$$(gofmt -l cmd internal); if [ -n "$$unformatted" ]; then echo "gofmt needed: $$unformatted"; exit 1; fi
	go vet ./...
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

# actionlint checks the workflows' syntax, expressions and action inputs, and their run:
# scripts with shellcheck when that is installed (as on GitHub's runners).
ACTIONLINT := github.com/rhysd/actionlint/cmd/actionlint@v1.7.12

lint-workflows:
	go run $(ACTIONLINT) .github/workflows/ci.yml .github/workflows/deploy.yml

fmt: test-deps ## format Go and Python
	gofmt -w cmd internal
	$(VENV)/bin/ruff format .

demo: fvdeploy test-deps ## deploy dev to a local AWS emulator, validate, destroy
	scripts/demo.sh

# Prowler (pinned, in .venv-audit) over what up --env prod creates on moto with every option
# the emulator carries; fails on a critical/high finding not in scripts/audit-accepted.tsv.
# About 4 minutes (plus about 10 for Prowler's first install); not part of make test.
audit: test-deps ## run Prowler against prod on the emulator; report in .audit/report.md
	scripts/audit.sh

# Reconcile speed against the emulator: no-op up read calls per resource, and the serial
# depth of a full up with 100 ms added to every API call.
bench: test-deps ## reconcile speed against the emulator
	go test -run '^$$' -bench . -benchtime 3x ./cmd/fvdeploy

bench-api: test-deps ## the service's throughput and latency under wrk
	scripts/bench-api.sh

image-figures: ## the image's compressed size and container start to first 200 on /health (prints)
	FVDEPLOY_IMAGE_FIGURES=1 go test -count=1 -v -run TestImageFigures ./internal/image

clean:
	rm -rf bin
