# envtrack — make targets people know. Everything a fresh machine needs (the real
# InfluxDB, Prometheus, promtool, Alertmanager and amtool of DESIGN §11) is built from the
# Go module proxy into .cache/bin on first use.
GO        ?= go
BIN       := $(CURDIR)/.cache/bin
PKG       := github.com/blueberry-idp/envtrack
VERSION   ?= $(shell cat VERSION 2>/dev/null || echo 0.0.0)
REVISION  ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
BRANCH    ?= $(shell git rev-parse --abbrev-ref HEAD 2>/dev/null || echo unknown)
LDFLAGS   := -s -w \
	-X github.com/prometheus/common/version.Version=$(VERSION) \
	-X github.com/prometheus/common/version.Revision=$(REVISION) \
	-X github.com/prometheus/common/version.Branch=$(BRANCH) \
	-X github.com/prometheus/common/version.BuildUser=envtrack-make \
	-X github.com/prometheus/common/version.BuildDate=$(shell date -u +%Y%m%d-%H:%M:%S)
TEST_FLAGS ?= -race -count=1 -timeout 25m
CONFIG    ?= config/example.yml

INFLUXD_VERSION      := v1.8.10
PROMETHEUS_VERSION   := v0.316.0
ALERTMANAGER_VERSION := v0.31.1
STATICCHECK_VERSION  := v0.8.2

TOOLS := $(BIN)/influxd $(BIN)/prometheus $(BIN)/promtool $(BIN)/alertmanager $(BIN)/amtool

export ENVTRACK_TOOLS_DIR := $(BIN)

.PHONY: all build test lint fmt vet staticcheck tools run bench clean generate check-generated demo
all: lint build test

build: ## build bin/envtrack
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/envtrack ./cmd/envtrack

# The landing page's test drives headless Chromium and the shared journal's tests run
# PostgreSQL; under CI they fail without them: test installs Debian's packages first
# when it can (never fatal here).
test: tools ## all tests, with the race detector, against the real servers
	@if [ "$$CI" = true ] && ! command -v chromium >/dev/null 2>&1; then \
		echo ">> installing chromium for the landing page's headless browser test"; \
		sudo=""; [ "$$(id -u)" = 0 ] || sudo="sudo -n"; \
		($$sudo apt-get update -qq && $$sudo apt-get install -y -qq --no-install-recommends chromium >/dev/null) || \
			echo ">> chromium unavailable: the headless browser test will fail"; \
	fi
	@if [ "$$CI" = true ] && [ -z "$$ENVTRACK_TEST_POSTGRES_DSN" ] && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then \
		echo ">> installing postgresql for the shared journal's tests"; \
		sudo=""; [ "$$(id -u)" = 0 ] || sudo="sudo -n"; \
		($$sudo apt-get update -qq && $$sudo apt-get install -y -qq --no-install-recommends postgresql >/dev/null) || \
			echo ">> postgresql unavailable: the PostgreSQL tests will fail"; \
	fi
	$(GO) test $(TEST_FLAGS) ./...
	@# Fuzzing budgets in executions, not seconds: Go 1.26's coordinator can fail a
	@# target with "context deadline exceeded" when a -fuzztime duration ends while a
	@# worker is mid-input (go.dev/issue/75804, fixed in Go 1.27). About 5 s each here.
	$(GO) test -run '^$$' -fuzz '^FuzzDecodeEvent$$' -fuzztime 100000x ./model/apitypes/
	$(GO) test -run '^$$' -fuzz '^FuzzDecodeMetadata$$' -fuzztime 20000x ./model/apitypes/
	$(GO) test -run '^$$' -fuzz FuzzDecodeRecords -fuzztime 50000x ./exporter/store/
	$(GO) test -run '^$$' -fuzz '^FuzzQuoteInfluxQL$$' -fuzztime 10000x ./exporter/influxdb/

lint: fmt vet staticcheck ## gofmt, go vet and staticcheck must be clean

fmt:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './.cache/*')); \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...

staticcheck: $(BIN)/staticcheck
	$(BIN)/staticcheck ./...

tools: $(TOOLS) ## build the real servers tests run against (skipped when present)

# Each server is built once from the module proxy; a progress line says why make pauses.
$(BIN)/influxd:
	@echo ">> building InfluxDB $(INFLUXD_VERSION) from the Go module proxy (first run only, about a minute)"
	GOBIN=$(BIN) GOFLAGS=-mod=mod $(GO) install github.com/influxdata/influxdb/cmd/influxd@$(INFLUXD_VERSION)

$(BIN)/prometheus $(BIN)/promtool &:
	@echo ">> building Prometheus and promtool $(PROMETHEUS_VERSION) from the Go module proxy (first run only, a few minutes)"
	GOBIN=$(BIN) GOFLAGS=-mod=mod $(GO) install -tags remove_all_sd \
		github.com/prometheus/prometheus/cmd/prometheus@$(PROMETHEUS_VERSION) \
		github.com/prometheus/prometheus/cmd/promtool@$(PROMETHEUS_VERSION)

$(BIN)/alertmanager $(BIN)/amtool &:
	@echo ">> building Alertmanager and amtool $(ALERTMANAGER_VERSION) from the Go module proxy (first run only, about a minute)"
	GOBIN=$(BIN) GOFLAGS=-mod=mod $(GO) install \
		github.com/prometheus/alertmanager/cmd/alertmanager@$(ALERTMANAGER_VERSION) \
		github.com/prometheus/alertmanager/cmd/amtool@$(ALERTMANAGER_VERSION)

$(BIN)/staticcheck:
	GOBIN=$(BIN) $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)

generate: ## rewrite dashboards/, deploy/prometheus/, the PrometheusRule and docs/operations.md from the definitions
	$(GO) run ./cmd/envtrack generate
	$(GO) test ./deploy -run TestPrometheusRule -count=1 -update >/dev/null

check-generated: generate ## fail when a committed generated file differs from what generate writes
	@git diff --exit-code -- dashboards deploy/prometheus deploy/kubernetes/prometheusrule.yaml docs/operations.md || \
		{ echo "generated files are stale: run 'make generate' and commit"; exit 1; }
	@test -z "$$(git status --porcelain -- dashboards deploy/prometheus docs/operations.md)" || \
		{ git status --porcelain -- dashboards deploy/prometheus docs/operations.md; echo "untracked generated files: run 'make generate' and commit"; exit 1; }

# The whole pipeline on this machine: a simulated platform on a fake Argo CD, envtrack,
# InfluxDB 1.8, Prometheus (generated rules), Alertmanager and a fake Grafana, data in
# .demo/. Ctrl-C stops everything. make demo DEMO_FLAGS="--speed 600 --history 12h".
DEMO_FLAGS ?=
demo: tools build ## run the whole pipeline locally (Ctrl-C stops it)
	@echo ">> building bin/envtrack-demo"
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/envtrack-demo ./cmd/envtrack-demo
	./bin/envtrack-demo --dir .demo --tools $(BIN) --envtrack bin/envtrack $(DEMO_FLAGS)

run: build ## run envtrack locally with the example config
	./bin/envtrack serve --config $(CONFIG)

# The benchmarks whose figures are percentiles or rates over a set number of requests
# run as docs/benchmarks.md quotes them: Go's default of one second would end the
# timeline's after 70 or so requests a path, where the p99 is the slowest one.
bench: ## benchmarks; results and the command go to docs/benchmarks.md
	$(GO) test -run '^$$' -bench . -skip '^(BenchmarkTimelineQuery|BenchmarkPushToInfluxDB)$$' -benchmem -count 1 -timeout 120m ./...
	$(GO) test -run '^$$' -bench '^BenchmarkTimelineQuery$$/^ephemeral$$' -benchtime 5000x -timeout 60m ./exporter/app/
	$(GO) test -run '^$$' -bench '^BenchmarkTimelineQuery$$/^long$$' -benchtime 1000x -timeout 60m ./exporter/app/
	BENCH_PUSH_ROUNDS=5 $(GO) test -run '^$$' -bench '^BenchmarkPushToInfluxDB$$' -benchtime 3x -timeout 30m ./exporter/app/

clean:
	rm -rf bin data .demo
