# logrouter — build, test and benchmark. `make help` lists the targets.
SHELL := /bin/bash
GO ?= go
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT ?= $(shell git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
LDFLAGS := -s -w -X main.version=$(VERSION) -X main.commit=$(COMMIT)
BIN := bin/logrouter
GOFILES = $(shell git ls-files --cached --others --exclude-standard '*.go')
TEST_TIMEOUT ?= 25m

.PHONY: help build test test-stress fmt-check vet lint unit bench clean lambda image demo dev

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

build: ## build bin/logrouter (static, reproducible, version-stamped)
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/logrouter

test: fmt-check vet lint deploy-check unit ## everything CI checks: gofmt, go vet, staticcheck, deployment checks, unit + integration tests (-race) against moto

fmt-check: ## fail when a Go file is not gofmt-formatted
	@out=$$(gofmt -l $(GOFILES)); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

vet: ## go vet
	$(GO) vet ./...

lint: ## staticcheck, pinned, run through go run
	$(GO) run $(STATICCHECK) ./...

unit: ## unit and integration tests with the race detector; starts and stops moto_server
	$(GO) run ./internal/tools/withmoto -- $(GO) test -race -count=1 -timeout $(TEST_TIMEOUT) ./...

# Integration suites under CPU contention: one busy-loop competitor per core, each GOMAXPROCS value in turn,
# every test three times. Tests that depend on timing fail here long before they fail in CI.
STRESS_PKGS ?= ./engine/... ./batcher/... ./internal/cwlfake/... ./cmd/logrouter/...
STRESS_PROCS ?= 1 2 4
test-stress: ## integration suites under CPU contention (busy loop per core, GOMAXPROCS 1/2/4, -count=3); slow, outside `make test`
	@set -e; pids=""; trap 'kill $$pids 2>/dev/null || true' EXIT; \
	for i in $$(seq $$(nproc)); do ( while :; do :; done ) & pids="$$pids $$!"; done; \
	echo "test-stress: $$(nproc) busy-loop competitors ($$pids)"; \
	for p in $(STRESS_PROCS); do \
	  echo "test-stress: GOMAXPROCS=$$p"; \
	  GOMAXPROCS=$$p $(GO) run ./internal/tools/withmoto -- $(GO) test -race -count=3 -timeout $(TEST_TIMEOUT) $(STRESS_PKGS); \
	done

bench: ## measure the hot path against this machine's floor into bench/results/ (BENCHFLAGS=--quick for a short run)
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/logrouter
	CGO_ENABLED=0 $(GO) build -trimpath -o bin/fakelogs ./internal/tools/fakelogs
	$(BIN) bench --out bench/results --fakelogs bin/fakelogs --doc BENCHMARKS.md $(BENCHFLAGS)

# Builds bin/logrouter and bin/demo, counting the packages compiled (a cold Go cache compiles ~840 and takes
# minutes; a warm one relinks only the version-stamped main package). Compiler errors pass through; pipefail keeps the build's status.
define build-tools
	@echo "==> building $(BIN) and bin/demo (packages compiled so far are counted; a cold Go cache takes minutes)"
	@set -o pipefail; { CGO_ENABLED=0 $(GO) build -v -trimpath -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/logrouter && \
	  $(GO) build -v -o bin/demo ./internal/tools/demo; } 2>&1 | \
	  awk '/^[A-Za-z0-9._~\/-]+$$/ {n++; printf "\r    packages compiled: %d", n; fflush(); next} {print} END {if (n) print ""}'
endef

demo: ## the whole pipeline locally against moto: deploy, API, configs, objects, poll, read-back checks (KEEP=1: keep it running)
	$(build-tools)
	bin/demo --bin $(BIN) $(if $(KEEP),--keep-running --env-file bin/dev.env)

dev: ## a local stack (moto, tables, bucket, queue, API with a generated key, poll) kept running until Ctrl-C
	$(build-tools)
	bin/demo --dev --bin $(BIN) --env-file bin/dev.env

LAMBDA_ARCHES := amd64 arm64
lambda: ## Lambda zips for provided.al2023 (binary named bootstrap): dist/logrouter-lambda-{amd64,arm64}.zip
	@set -e; for arch in $(LAMBDA_ARCHES); do \
	  dir=dist/lambda-$$arch; rm -rf $$dir; mkdir -p $$dir; \
	  CGO_ENABLED=0 GOOS=linux GOARCH=$$arch $(GO) build -trimpath -tags lambda.norpc -ldflags "$(LDFLAGS)" -o $$dir/bootstrap ./cmd/logrouter; \
	  touch -t 198001010000 $$dir/bootstrap; rm -f dist/logrouter-lambda-$$arch.zip; \
	  (cd $$dir && python3 -m zipfile -c ../logrouter-lambda-$$arch.zip bootstrap); \
	  echo "dist/logrouter-lambda-$$arch.zip"; \
	done

IMAGE ?= logrouter:$(VERSION)
image: ## container image from Containerfile (needs podman, or docker with a running engine)
	@if command -v podman >/dev/null 2>&1; then engine=podman; \
	elif command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; then engine=docker; \
	else echo "make image: no container engine here (podman, or docker with a running daemon)"; exit 1; fi; \
	$$engine build -f Containerfile --build-arg VERSION=$(VERSION) --build-arg COMMIT=$(COMMIT) -t $(IMAGE) .

clean: ## remove build outputs
	rm -rf bin dist

.PHONY: deploy-check vector-sync
deploy-check: ## cfn-lint every CloudFormation template; build and validate the kustomizations (module deploy/)
	@command -v cfn-lint >/dev/null || { echo "deploy-check needs cfn-lint on the PATH (pip install cfn-lint)"; exit 1; }
	cfn-lint deploy/cloudformation/*.yaml
	cd deploy && $(GO) vet ./... && $(GO) test -count=1 ./...

vector-sync: ## copy vector/vector.yaml into the kustomize base (kustomize reads nothing outside its root)
	cp vector/vector.yaml deploy/kubernetes/base/vector/vector.yaml
