# fecdeploy — build, test, benchmark.
#   make test    install test dependencies if missing, then gofmt, vet, shellcheck + all tests (what CI runs)
#   make shellcheck  shellcheck over every shell file of the repository (scripts/shellcheck.sh)
#   make build   the binaries for this machine into bin/
#   make cross   static binaries for the FEC architectures into dist/<os>-<arch>/
#   make bench   every benchmark, with ratios against the baselines (see docs/benchmarks.md)
#   make bench-storm   N FECs booting at once over shaped links, as root (see docs/scale.md)
#   make bench-storm-fleet  the same for N = 50, 200, 500, with and without caching proxies
#   make demo    the demo: a web storage served by the built-in server, a simulated FEC booting

GO       ?= go
BINARIES := fec-pack fec-boot fec-prune fec-persist fecctl check_fec_boot fecd
ARCHES   := amd64 386 arm arm64 ppc64le
TESTFLAGS ?= -count=1 -timeout 40m

.PHONY: all test deps vet fmt-check shellcheck cross-check build cross bench bench-storm bench-storm-fleet demo clean

all: build

deps:
	./scripts/install-deps.sh

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...

# Every shell file (*.sh, *.init, sh/bash shebangs) must pass shellcheck.
shellcheck:
	./scripts/shellcheck.sh

# fec-boot runs on every FEC architecture (per-architecture syscall numbers):
# make sure it builds for each, without keeping the binaries.
cross-check:
	for a in $(ARCHES); do \
	  CGO_ENABLED=0 GOOS=linux GOARCH=$$a $(GO) build -o /dev/null ./cmd/fec-boot || exit 1; \
	done

test: deps fmt-check vet shellcheck cross-check
	$(GO) test $(TESTFLAGS) ./...

build:
	@mkdir -p bin
	for b in $(BINARIES); do \
	  [ -d cmd/$$b ] && CGO_ENABLED=0 $(GO) build -trimpath -o bin/$$b ./cmd/$$b || exit 1; \
	done

cross:
	for a in $(ARCHES); do \
	  mkdir -p dist/linux-$$a; \
	  for b in $(BINARIES); do \
	    [ -d cmd/$$b ] || continue; \
	    CGO_ENABLED=0 GOOS=linux GOARCH=$$a $(GO) build -trimpath -ldflags='-s -w' -o dist/linux-$$a/$$b ./cmd/$$b || exit 1; \
	  done; \
	done

bench: deps build
	./scripts/bench.sh

# Boot storm over shaped links in network namespaces (root; not part of
# `make bench`, see docs/scale.md). STORM="-n 50 -proxies 2" passes options.
# bench-storm-fleet: N = 50, 200, 500 from the origin and through 2 caching
# proxies, 8 MB of incompressible payload per FEC (link-bound, ~10 min).
bench-storm: deps
	$(GO) build -o bin/storm ./bench/storm
	./bin/storm $(STORM)

bench-storm-fleet: deps
	$(GO) build -o bin/storm ./bench/storm
	for p in 0 2; do for n in 50 200 500; do \
	  ./bin/storm -n $$n -proxies $$p -payload-mb 8 $(STORM) || exit 1; \
	done; done

demo:
	$(GO) run ./cmd/fecctl demo

clean:
	rm -rf bin dist bench/out
