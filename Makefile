# hooksupd — every routine command. `make` (or `make help`) lists them.

GO        ?= go
BIN       ?= bin
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -s -w -X main.version=$(VERSION)
PKGS      := ./...
# Fuzz targets, as package:Target. `make fuzz` runs each for FUZZTIME.
FUZZTIME  ?= 10s
FUZZ      := ./executor:FuzzParseDecision ./executor:FuzzParse ./ndjson:FuzzReader \
             ./ndjson:FuzzSplitter ./redact:FuzzLine ./redact:FuzzText
PREFIX    ?= /usr/local
DESTDIR   ?=

export PATH := $(dir $(shell command -v $(GO) 2>/dev/null || echo /usr/local/go/bin/go)):$(PATH)

.DEFAULT_GOAL := help

.PHONY: help
help: ## Show this help
	@echo "hooksupd — resource-capped hook supervisor"
	@echo
	@echo "Quick start:  make demo   (fire the example hooks)   make test   (run the test suite)"
	@echo
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z0-9_-]+:.*## / {printf "  %-14s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.PHONY: build
build: ## Build bin/hooksupd
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/hooksupd ./cmd/hooksupd

.PHONY: demo
demo: ## Fire the example hooks in examples/ through `hooksupd fire` and show the decisions
	bash examples/demo.sh

.PHONY: test
test: ## Run the whole test suite under the race detector (real processes, real cgroups)
	$(GO) test -race -count=1 -timeout 20m $(PKGS)

.PHONY: test-race
test-race: ## Run the suite 3 times under -race with shuffled order, to shake out flakes
	$(GO) test -race -count=3 -shuffle=on -timeout 45m $(PKGS)

.PHONY: test-vm
test-vm: ## Run the cgroup-sensitive suites inside a pure cgroup v2 VM (qemu; installs what it needs)
	bash test/vm/test-vm.sh

.PHONY: fuzz
fuzz: ## Run every fuzz target briefly (FUZZTIME=10s each)
	@set -e; for t in $(FUZZ); do \
		pkg=$${t%%:*}; name=$${t##*:}; \
		echo "== fuzz $$pkg $$name ($(FUZZTIME))"; \
		$(GO) test -run '^$$' -fuzz "^$$name$$" -fuzztime $(FUZZTIME) $$pkg; \
	done

.PHONY: lint
lint: ## gofmt, go vet (linux, darwin, windows) and staticcheck
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
		if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)
	GOOS=darwin $(GO) vet $(PKGS)
	GOOS=windows $(GO) vet $(PKGS)
	$(GO) tool staticcheck $(PKGS)
	$(GO) mod tidy -diff

.PHONY: cross
cross: ## Build for darwin/amd64, darwin/arm64, windows/amd64 (portable backend) and linux/arm64
	GOOS=darwin  GOARCH=amd64 $(GO) build -o /dev/null ./...
	GOOS=darwin  GOARCH=arm64 $(GO) build -o /dev/null ./...
	GOOS=windows GOARCH=amd64 $(GO) build -o /dev/null ./...
	GOOS=linux   GOARCH=arm64 $(GO) build -o /dev/null ./...

.PHONY: bench
bench: ## Benchmarks against baselines measured in the same run (BENCH_QUICK=1: <60 s subset)
	bash test/bench/run.sh

.PHONY: chaos
chaos: ## Reliability campaign against a real `hooksupd serve` (CHAOS_QUICK=1: <60 s; CHAOS_SEED=N replays a run)
	$(GO) build -o $(BIN)/chaos ./test/chaos
	$(BIN)/chaos -repo . -out test/chaos/out

.PHONY: clean
clean: ## Remove build outputs
	rm -rf $(BIN) examples/bin test/vm/out test/chaos/out

# ---------------------------------------------------------------------------
# Service: install the binary, its systemd units and the example configuration,
# and test them under a real systemd. `make install PREFIX=/usr DESTDIR=pkgroot`
# stages a package; without DESTDIR it installs on this host.

UNITDIR   ?= /etc/systemd/system
CONFDIR   ?= /etc/hooksupd

.PHONY: install
install: build ## Install hooksupd, its systemd units and /etc/hooksupd/hooks.toml (kept if present); PREFIX, DESTDIR
	install -d -m 0755 $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(UNITDIR) $(DESTDIR)$(CONFDIR)
	install -m 0755 $(BIN)/hooksupd $(DESTDIR)$(PREFIX)/bin/hooksupd
	sed -e 's|/usr/local/bin/hooksupd|$(PREFIX)/bin/hooksupd|g' -e 's|/etc/hooksupd/hooks.toml|$(CONFDIR)/hooks.toml|g' \
		dist/systemd/hooksupd.service >$(BIN)/hooksupd.service
	install -m 0644 $(BIN)/hooksupd.service $(DESTDIR)$(UNITDIR)/hooksupd.service
	install -m 0644 dist/systemd/hooksupd.socket $(DESTDIR)$(UNITDIR)/hooksupd.socket
	@if [ -e $(DESTDIR)$(CONFDIR)/hooks.toml ]; then \
		echo "keeping the existing $(DESTDIR)$(CONFDIR)/hooks.toml (the example is dist/hooks.toml)"; \
	else \
		install -m 0644 dist/hooks.toml $(DESTDIR)$(CONFDIR)/hooks.toml; \
	fi
	@if [ -z "$(DESTDIR)" ] && [ -d /run/systemd/system ]; then \
		echo "systemctl daemon-reload"; systemctl daemon-reload; \
	fi

.PHONY: test-systemd
test-systemd: ## Boot a Debian VM with systemd (qemu) and test the installed units end to end
	bash test/systemd/run.sh
