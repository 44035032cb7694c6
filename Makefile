# hookledger: `make run` starts the ledger on the embedded store in ./data,
# `make test` runs every test. Both work on a fresh machine with Go installed:
# modules come from the Go module proxy.
GO      ?= go
# Build with Go's encoding/json v2 experiment: encoding/json keeps its API and
# output but decodes on the v2 engine, much faster (docs/benchmarks.md:
# rebuild 237k -> 401k events/s, throughput +20%). Plain `go build` still
# works, slower: GOEXPERIMENT= make ... to compare.
GOEXPERIMENT ?= jsonv2
export GOEXPERIMENT
BIN     := bin/hookledger
ARGS    ?=
# Development defaults of `make run`: a known admin key and webhooks allowed
# to loopback/private addresses (so `hookledger receive` on 127.0.0.1 works).
# Never use them in production: set HOOKLEDGER_ADMIN_KEY to a secret of your
# own and leave private targets refused.
DEV_ADMIN_KEY ?= dev-admin-key-change-me-0123456789

.PHONY: run build test test-short bench bench-history bench-micro vet fmt-check tidy-check hygiene clean

build:
	$(GO) build -o $(BIN) ./cmd/hookledger

run: build
	exec env HOOKLEDGER_ADMIN_KEY="$${HOOKLEDGER_ADMIN_KEY:-$(DEV_ADMIN_KEY)}" ./$(BIN) serve --data-dir ./data --allow-private-targets $(ARGS)

# Every test, with the race detector. gofmt, vet, go.mod tidiness and the
# repository hygiene checks first: they are cheap.
test: fmt-check vet tidy-check hygiene
	$(GO) test -race -count=1 -timeout 20m ./...

test-short:
	$(GO) test -short -count=1 ./...

vet:
	$(GO) vet ./...

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

# The end-to-end harness (all scenarios on loopback; BENCH_ARGS scales them,
# e.g. BENCH_ARGS="--runs 3" or "--json"). docs/benchmarks.md has the figures.
BENCH_ARGS ?=
bench: build
	./$(BIN) bench $(BENCH_ARGS)

# What a long history costs (peak and after-drain RSS, view store per
# message, restart, as_of, listings): 1,000,000 messages by default, about a
# quarter of an hour on 2 cores; HISTORY=250000 for a shorter run.
HISTORY ?= 1000000
bench-history: build
	./$(BIN) bench --scenarios history --history-messages $(HISTORY) $(BENCH_ARGS)

# Micro-benchmarks of the store, the pipeline, the sender and audit verification.
bench-micro:
	$(GO) test -run '^$$' -bench . -benchtime 3s ./adapters/pebblestore/ ./adapters/pipeline/ ./adapters/sender/ ./adapters/audit/

# go.mod must already be what `go mod tidy` makes of it (direct dependencies
# not marked indirect, nothing unused).
tidy-check:
	@$(GO) mod tidy -diff || { echo "go.mod/go.sum are not tidy: run go mod tidy"; exit 1; }

# No build output committed: binaries belong in bin/ (ignored).
hygiene:
	@big=$$(git ls-files -z 2>/dev/null | xargs -0 -r stat -c '%s %n' 2>/dev/null | awk '$$1 > 5000000 {print $$2}'); \
	if [ -n "$$big" ]; then echo "files over 5 MB are committed (build output?):"; echo "$$big"; exit 1; fi

clean:
	rm -rf bin
