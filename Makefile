# Hazelnut. Two commands on a fresh machine: `make run` and `make test`.
GO      ?= go
BIN     := bin/hazelnut
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X main.version=$(VERSION)

.PHONY: run build test test-unit test-integration bench fuzz lint services-up services-down clean

## run: build and start `hazelnut dev` (embedded broker, state in ./data)
run: build
	./$(BIN) dev

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/hazelnut

## test: lint, unit tests, real services, integration tests; fails over 35 minutes
test:
	bash scripts/test.sh all

test-unit:
	bash scripts/test.sh unit

test-integration:
	bash scripts/test.sh integration

## bench: every Go benchmark (results and commands are kept in docs/BENCHMARKS.md)
bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...

## fuzz: a short run of every fuzz target
fuzz:
	bash scripts/test.sh fuzz

lint:
	@out=$$(gofmt -l .); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) vet -tags integration ./...

services-up:
	bash scripts/services.sh up

services-down:
	bash scripts/services.sh down

clean:
	rm -rf bin
