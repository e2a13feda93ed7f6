# mrhub — the two commands of the README are `make demo` and `make test`.
GO      ?= go
PKGS    ?= ./...
BIN     := bin/mrhub
# staticcheck at a pinned version, run with `go run` (not a dependency of the module).
STATICCHECK ?= honnef.co/go/tools/cmd/staticcheck@v0.8.2

.PHONY: build demo test test-race bench fuzz vet lint fmt tidy-check clean

build:
	$(GO) build -o $(BIN) ./cmd/mrhub

## demo: embedded broker, PostgreSQL database, seeds, hub, simulated hospitals (Ctrl-C stops)
demo: build
	./$(BIN) demo

## test: vet, then every test against the local PostgreSQL and an embedded broker
test: vet
	$(GO) test -count=1 -timeout 20m $(PKGS)

test-race:
	$(GO) test -race -count=1 -timeout 30m $(PKGS)

## bench: the ingest benchmark (prints `ingest reports_per_s=… ratio=… rss_mb=…` last)
bench: build
	./$(BIN) bench ingest

fuzz:
	$(GO) test -run='^$$' -fuzz=FuzzParseMessage -fuzztime=200000x -timeout=10m ./pkg/fhir
	$(GO) test -run='^$$' -fuzz=FuzzFastDecoder -fuzztime=100000x -timeout=15m ./pkg/fhir

vet:
	$(GO) vet $(PKGS)
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || (echo "gofmt needed:"; gofmt -l $$(git ls-files '*.go'); exit 1)

## lint: staticcheck over every package (CI runs it)
lint:
	$(GO) run $(STATICCHECK) $(PKGS)

tidy-check:
	$(GO) mod tidy -diff

clean:
	rm -rf bin data
