# mcpauthz — make run starts the server, make test runs every test.
# Both install what they need on a fresh machine (Go modules; for the tests
# also Debian's chromium and the npm packages of the interop tests).

GO        ?= go
BIN       := bin/mcpauthz
NODE_DIR  := cmd/mcpauthz/testdata/node
CHROMIUM  ?= $(shell command -v chromium 2>/dev/null || command -v chromium-browser 2>/dev/null)
export CGO_ENABLED := 1
# sqlite_fts5 compiles SQLite's FTS5 into go-sqlite3 for ranked document
# search; without it the server falls back to slower substring search.
TAGS      ?= sqlite_fts5
# The version `mcpauthz version` and the MCP server report: the git tag or
# commit (with -dirty for uncommitted changes); without git, the version Go
# stamps, else "dev".
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null)

.PHONY: all build run test test-deps test-go vet bench fuzz clean

all: build

## build: compile the binary to bin/mcpauthz
build:
	$(GO) build -tags $(TAGS) -trimpath -ldflags "-X main.version=$(VERSION)" -o $(BIN) ./cmd/mcpauthz

## run: start the server on its embedded defaults (http://localhost:8080, mcpauthz.db)
run: build
	./$(BIN) serve

## test: install test dependencies if missing, then vet and run every test with the race detector
test: test-deps vet test-go

test-go:
	$(GO) test -tags $(TAGS) -race -count=1 -timeout 30m ./...

vet:
	$(GO) vet -tags $(TAGS) ./...

## test-deps: Debian's chromium for the browser tests, npm packages for the interop tests (idempotent)
test-deps: $(NODE_DIR)/node_modules/.installed
	@if ! command -v chromium >/dev/null 2>&1 && ! command -v chromium-browser >/dev/null 2>&1; then \
		echo "installing Debian's chromium for the browser tests"; \
		if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium >/dev/null; \
	fi

$(NODE_DIR)/node_modules/.installed: $(NODE_DIR)/package.json $(NODE_DIR)/package-lock.json
	cd $(NODE_DIR) && npm ci --no-audit --no-fund --loglevel=error
	touch $@

## bench: Go benchmarks
bench:
	$(GO) test -tags $(TAGS) -run '^$$' -bench . -benchmem -count=1 ./...

## fuzz: run each fuzz target for FUZZTIME (default 30s)
FUZZTIME ?= 30s
fuzz:
	@for pkg in $$($(GO) list ./...); do \
		for f in $$($(GO) test -tags $(TAGS) -list '^Fuzz' $$pkg 2>/dev/null | grep '^Fuzz'); do \
			echo "== $$pkg $$f"; $(GO) test -tags $(TAGS) -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
		done; \
	done

clean:
	rm -rf bin
