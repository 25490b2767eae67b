# mlm: see README.md. GNU make; recipes are POSIX sh.
PREFIX  ?= /usr/local
BINDIR  ?= $(PREFIX)/bin
MANDIR  ?= $(PREFIX)/share/man
DESTDIR ?=
GO      ?= go
GOTAGS  ?= osusergo,netgo
GOBUILDFLAGS ?= -trimpath -tags $(GOTAGS)
FUZZTIME ?= 3m
PROGS   := $(notdir $(wildcard filters/mlm-*))
BINS    := $(PROGS:%=bin/%)
# What the programs are built from: install builds them again only if
# one is newer than they are.
GOSRC   := $(shell find filters lib -name '*.go' ! -name '*_test.go') go.mod go.sum
STATICCHECK = $(GO) tool -modfile=tools.mod staticcheck

# go build leaves a program it finds up to date as it was: touch makes
# each newer than the sources, so install takes it as built.
all:
	$(GO) build $(GOBUILDFLAGS) -o bin/ ./filters/...
	touch -c $(BINS)

check: lint test

# pprof builds the programs with the profiler into bin-pprof/, apart from
# bin/, which install takes: with MLM_CPUPROFILE=DIR each writes a CPU
# profile of its run there (mlm(7)). (The last -tags is the one go takes.)
pprof:
	$(GO) build $(GOBUILDFLAGS) -tags $(GOTAGS),mlmpprof -o bin-pprof/ ./filters/...

# demo runs the main job end to end: a list of 1,000, three posts, the
# queues run, delivery to mlm-sink on 127.0.0.1 (examples/demo.sh).
demo: all
	sh examples/demo.sh

# mlm-sendmail, mlm-run, mlm-accept and mlm-enqueue run their Go code
# on one CPU (cli.OneCPU, see GOMAXPROCS in their pages): their tests,
# and the SMTP client's, run so too.
test:
	$(GO) test -race ./...
	$(GO) test -race -cpu 1 ./filters/mlm-sendmail ./lib/smtpout ./filters/mlm-run ./filters/mlm-accept ./filters/mlm-enqueue
	$(GO) test -race -tags mlmpprof ./lib/cli ./filters/mlm-lock

lint: lint-go lint-man lint-sh

lint-go:
	@out=$$(gofmt -l .); if [ -n "$$out" ]; then echo "gofmt: $$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) vet -tags mlmpprof ./lib/cli ./filters/mlm-lock
	$(STATICCHECK) ./...
	$(STATICCHECK) -tags mlmpprof ./lib/cli ./filters/mlm-lock
	$(GO) mod tidy -diff

lint-man:
	mandoc -Tlint -Wwarning man/*.[157]

lint-sh:
	find contrib examples -name '*.sh' -exec shellcheck {} +
	for f in contrib/*.pl; do perl -c "$$f" 2>&1 | grep -q 'syntax OK' || { perl -c "$$f"; exit 1; }; done

# faults runs the whole suite writing the fault table's rows, and makes
# tests/FAULTS.md of them; soak runs the kill -9 and crash-point soaks
# longer (SOAK, a count of rounds).
SOAK ?= 20
# faults writes the table whatever the tests' outcome, a FAIL row
# among them, and then fails as they did.
faults:
	rm -f tests/faults.tsv
	MLM_FAULT_TABLE=$(CURDIR)/tests/faults.tsv $(GO) test -count=1 ./...; s=$$?; \
	$(GO) run ./tests/faulttable < tests/faults.tsv > tests/FAULTS.md.new && \
	mv tests/FAULTS.md.new tests/FAULTS.md && \
	rm -f tests/faults.tsv && exit $$s

soak:
	MLM_SOAK=$(SOAK) $(GO) test -count=1 -timeout 2h -run 'Soak|Killed|Crash' ./tests/

# fuzz runs every fuzz target for FUZZTIME each. A target that fails
# with only "context deadline exceeded" as its last line, no failing
# input written, is Go's coordinator racing its own -fuzztime
# (golang/go#75804), which a long minimising of a new input makes
# likely, not a fault found: it is said, and the next target runs.
fuzz:
	@out=$$(mktemp) && trap 'rm -f "$$out"' EXIT && \
	for pkg in $$($(GO) list ./...); do \
	  dir=$$($(GO) list -f '{{.Dir}}' $$pkg); \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
	    echo "$$pkg $$f"; \
	    before=$$(ls "$$dir/testdata/fuzz/$$f" 2>/dev/null | wc -l); \
	    { $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg 2>&1; echo "rc $$?"; } | tee "$$out"; \
	    case $$(tail -n 1 "$$out") in "rc 0") continue;; esac; \
	    after=$$(ls "$$dir/testdata/fuzz/$$f" 2>/dev/null | wc -l); \
	    if [ "$$before" = "$$after" ] && grep -qx '    context deadline exceeded' "$$out"; then \
	      echo "$$f: the fuzz coordinator's deadline race (golang/go#75804), no failing input; on"; \
	      continue; \
	    fi; \
	    exit 1; \
	  done; \
	done

# install builds nothing once make has built the programs, as GNU's
# conventions ask: as root, under sudo, go is often not on PATH.
$(BINS) &: $(GOSRC)
	$(GO) build $(GOBUILDFLAGS) -o bin/ ./filters/...
	touch -c $(BINS)

# install puts each program under a name of its own first, makes it
# durable, then renames it over the old one: mail runs mlm-accept while
# it is installed, and install(1) alone unlinks the old program, then
# writes the new one mode 0600, and only then makes it 0755 (R78).
install: $(BINS)
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1 \
	    $(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(MANDIR)/man7
	for p in $(PROGS); do \
	  install -m 0755 bin/$$p $(DESTDIR)$(BINDIR)/.$$p.new || exit 1; \
	done
	sync $(PROGS:%=$(DESTDIR)$(BINDIR)/.%.new)
	for p in $(PROGS); do \
	  mv -f $(DESTDIR)$(BINDIR)/.$$p.new $(DESTDIR)$(BINDIR)/$$p || exit 1; \
	done
	sync $(DESTDIR)$(BINDIR)
	install -m 0644 man/*.1 $(DESTDIR)$(MANDIR)/man1
	install -m 0644 man/*.5 $(DESTDIR)$(MANDIR)/man5
	install -m 0644 man/*.7 $(DESTDIR)$(MANDIR)/man7

uninstall:
	rm -f $(PROGS:%=$(DESTDIR)$(BINDIR)/%)
	for f in man/*.[157]; do \
	  s=$${f##*.}; rm -f $(DESTDIR)$(MANDIR)/man$$s/$${f#man/}; \
	done

# bench measures one post to lists of 10,000 and 100,000 through mlm,
# against mlmmj and Postfix's smtp-source into smtp-sink, and the
# filters against cat, and the post to a million members (tests/bench);
# BENCHFLAGS makes it smaller, e.g.
# -members 1000,5000 -reps 1 -stream-mb 50 -million 20000.
BENCHFLAGS ?=
bench: all
	$(GO) run ./tests/bench -bin bin $(BENCHFLAGS)

clean:
	rm -rf bin bin-pprof

.PHONY: all pprof check demo test lint lint-go lint-man lint-sh faults soak fuzz install uninstall clean bench
