# SPDX-License-Identifier: Apache-2.0
# hooksupd — every routine command. `make` (or `make help`) lists them.

GO        ?= go
BIN       ?= bin
# VERSION (semantic, without the v) is the version of this tree: the file
# VERSION; a release is the commit tagged v$(VERSION). COMMIT is the commit
# built from, printed beside it by `hooksupd version`.
VERSION   ?= $(shell cat VERSION)
COMMIT    ?= $(shell git rev-parse --short=12 HEAD 2>/dev/null)
LDFLAGS   := -s -w -X main.version=v$(VERSION) -X main.commit=$(COMMIT)
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
lint: ## gofmt, go vet (linux, darwin, windows), staticcheck and check-alerts
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
		if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)
	GOOS=darwin $(GO) vet $(PKGS)
	GOOS=windows $(GO) vet $(PKGS)
	$(GO) tool staticcheck $(PKGS)
	$(GO) mod tidy -diff
	@$(MAKE) --no-print-directory check-alerts

# promtool comes with Debian's prometheus package. Without it the rules are
# not checked, which is an error under CI=true.
.PHONY: check-alerts
check-alerts: ## Check dist/prometheus/alerts.yml and run its unit tests with promtool (apt: prometheus)
	@if ! command -v promtool >/dev/null 2>&1; then \
		if [ "$$CI" = true ]; then echo "check-alerts: promtool not found (apt-get install prometheus)"; exit 1; fi; \
		echo "check-alerts: promtool not found (apt-get install prometheus); rules not checked"; exit 0; \
	fi; \
	promtool check rules dist/prometheus/alerts.yml && \
	cd dist/prometheus && promtool test rules alerts_test.yml

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

# Units go where systemd looks for the PREFIX: /lib/systemd/system for
# PREFIX=/usr (a package's place), /etc/systemd/system otherwise (the local
# admin's). dist/install.sh holds the file list that install and uninstall
# share.
UNITDIR   ?= $(if $(filter /usr,$(PREFIX)),/lib/systemd/system,/etc/systemd/system)
CONFDIR   ?= /etc/hooksupd
INSTALL_ENV = PREFIX=$(PREFIX) DESTDIR=$(DESTDIR) UNITDIR=$(UNITDIR) CONFDIR=$(CONFDIR) \
	BINARY=$(BIN)/hooksupd MANDIR=$(BIN)/man COMPLETIONS=$(BIN)/completions

.PHONY: install
install: build man completions ## Install hooksupd, units, man pages, docs, examples, /etc/hooksupd/hooks.toml (kept if present); PREFIX, DESTDIR
	$(INSTALL_ENV) sh dist/install.sh install

.PHONY: uninstall
uninstall: man ## Remove exactly what `make install` put (same PREFIX, DESTDIR); an edited hooks.toml is kept
	$(INSTALL_ENV) sh dist/install.sh uninstall

.PHONY: check-install
check-install: build man completions ## Stage make install into a temporary DESTDIR (both prefixes), uninstall, check nothing is left
	@set -e; for p in /usr/local /usr; do \
		d=$$(mktemp -d); \
		$(MAKE) -s install DESTDIR=$$d PREFIX=$$p >/dev/null; \
		n=$$(find $$d -type f | wc -l); \
		u=$$(find $$d -name hooksupd.service); \
		$(MAKE) -s uninstall DESTDIR=$$d PREFIX=$$p >/dev/null; \
		left=$$(find $$d ! -type d); rm -rf $$d; \
		if [ -n "$$left" ]; then echo "uninstall left: $$left"; exit 1; fi; \
		echo "PREFIX=$$p: $$n files installed (unit $${u#$$d}), all removed"; \
	done

# Shell completions, when the binary can print them (`hooksupd completion
# bash|zsh|fish`); without that command nothing is generated or installed.
.PHONY: completions
completions: build
	@rm -rf $(BIN)/completions
	@if $(BIN)/hooksupd completion bash >/dev/null 2>&1; then \
		mkdir -p $(BIN)/completions && \
		$(BIN)/hooksupd completion bash >$(BIN)/completions/hooksupd.bash && \
		$(BIN)/hooksupd completion zsh >$(BIN)/completions/_hooksupd && \
		$(BIN)/hooksupd completion fish >$(BIN)/completions/hooksupd.fish; \
	fi

# ---------------------------------------------------------------------------
# Man pages: docs/man/NAME.SECTION.md through go-md2man (a Go tool pinned in
# go.mod) into $(BIN)/man/NAME.SECTION.gz, gzip -9n so that the bytes do not
# depend on the build time.

MAN_SRC   := $(wildcard docs/man/*.md)
MAN_OUT   := $(patsubst docs/man/%.md,$(BIN)/man/%.gz,$(MAN_SRC))

.PHONY: man
man: $(MAN_OUT) ## Build the man pages from docs/man/*.md into bin/man

$(BIN)/man/%.gz: docs/man/%.md VERSION
	@mkdir -p $(BIN)/man
	sed 's/@VERSION@/$(VERSION)/' $< | $(GO) tool go-md2man >$(BIN)/man/$*
	gzip -9nf $(BIN)/man/$*

.PHONY: check-man
check-man: man ## Check the man pages with man --warnings and lexgrog (apt: man-db)
	@set -e; for m in $(MAN_OUT); do \
		w=$$(LC_ALL=C.UTF-8 MANROFFSEQ='' MANWIDTH=80 man --warnings -E UTF-8 -l -Tutf8 -Z $$m 2>&1 >/dev/null); \
		if [ -n "$$w" ]; then echo "$$m:"; echo "$$w"; exit 1; fi; \
		lexgrog $$m >/dev/null || { echo "$$m: lexgrog finds no NAME section"; exit 1; }; \
	done; echo "man pages OK: $(notdir $(MAN_OUT))"

# ---------------------------------------------------------------------------
# Debian packages: the tree `make install PREFIX=/usr` would install, staged
# per architecture and packed by nfpm (a Go tool pinned in go.mod), with the
# configuration as a conffile and the maintainer scripts of dist/deb/. The
# binary is a PIE (Debian's hardening default; ASLR), which also keeps it
# from being a statically linked executable lintian would flag.
# bin/hooksupd_$(DEB_VERSION)_ARCH.deb; `make lint-package` runs lintian.

DEB_ARCHES   ?= amd64 arm64
DEB_REVISION ?= 1
DEB_VERSION  := $(subst -,~,$(VERSION))-$(DEB_REVISION)
DEB_DATE     ?= $(shell git log -1 --format=%cD 2>/dev/null || date -R)

.PHONY: package
package: man completions ## Build .deb packages for amd64 and arm64 into bin/ (DEB_ARCHES, DEB_REVISION)
	@set -e; for arch in $(DEB_ARCHES); do \
		echo "== hooksupd $(DEB_VERSION) $$arch"; \
		CGO_ENABLED=0 GOOS=linux GOARCH=$$arch $(GO) build -buildmode=pie -trimpath -ldflags '$(LDFLAGS)' \
			-o $(BIN)/linux_$$arch/hooksupd ./cmd/hooksupd; \
		root=$(BIN)/pkgroot/$$arch; rm -rf $$root; \
		PREFIX=/usr DESTDIR=$$root NOLICENSE=1 BINARY=$(BIN)/linux_$$arch/hooksupd \
			MANDIR=$(BIN)/man COMPLETIONS=$(BIN)/completions sh dist/install.sh install >/dev/null; \
		mkdir -p $$root.conf && mv $$root/etc/hooksupd/hooks.toml $$root.conf/hooks.toml && rmdir $$root/etc/hooksupd $$root/etc; \
		sed 's/^#socket_group = "hooksupd"/socket_group = "hooksupd"/' $$root.conf/hooks.toml >$$root.conf/hooks.toml.new; \
		mv $$root.conf/hooks.toml.new $$root.conf/hooks.toml; \
		sed -e 's/@VERSION@/$(DEB_VERSION)/' -e 's/@DATE@/$(DEB_DATE)/' dist/deb/changelog.Debian | gzip -9n >$$root.conf/changelog.Debian.gz; \
		gzip -9nc CHANGELOG.md >$$root.conf/changelog.gz; \
		find $$root $$root.conf -exec touch -h -d @$$(git log -1 --format=%ct 2>/dev/null || echo 0) {} +; \
		sed -e "s|\$${DEB_ARCH}|$$arch|g" -e "s|\$${DEB_VERSION}|$(DEB_VERSION)|g" -e "s|\$${PKGROOT}|$$root|g" \
			dist/deb/nfpm.yaml >$$root.conf/nfpm.yaml; \
		$(GO) tool nfpm package --config $$root.conf/nfpm.yaml --packager deb --target $(BIN)/; \
	done

.PHONY: lint-package
lint-package: ## Run lintian on the packages in bin/ (apt: lintian); fails on errors and warnings
	lintian --fail-on error,warning \
		$(foreach a,$(DEB_ARCHES),$(BIN)/hooksupd_$(DEB_VERSION)_$(a).deb)

.PHONY: test-systemd
test-systemd: ## Boot a Debian VM with systemd (qemu) and test the installed units end to end
	bash test/systemd/run.sh
