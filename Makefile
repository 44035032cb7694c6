# hookledger: `make run` starts the ledger on the embedded store in ./data,
# `make test` runs every test. Both work on a fresh machine with Go installed:
# modules come from the Go module proxy.
GO      ?= go
BIN     := bin/hookledger
ARGS    ?=

.PHONY: run build test test-short bench vet fmt-check clean

build:
	$(GO) build -o $(BIN) ./cmd/hookledger

run: build
	./$(BIN) serve --data-dir ./data $(ARGS)

# Every test, with the race detector. gofmt and vet first: they are cheap.
test: fmt-check vet
	$(GO) test -race -count=1 -timeout 20m ./...

test-short:
	$(GO) test -short -count=1 ./...

vet:
	$(GO) vet ./...

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

# Store benchmarks (see docs/benchmarks.md for the figures).
bench:
	$(GO) test -run '^$$' -bench . -benchtime 3s ./adapters/pebblestore/

clean:
	rm -rf bin
