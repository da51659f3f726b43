#!/usr/bin/env bash
# make bench: every benchmark the issues name, in one run. Each part prints
# medians and its ratio against the baseline or target the issue names;
# docs/benchmarks.md records the figures with date and machine.
#
#   scripts/bench.sh              full payloads (~300 MB each; 15-25 min on 2 cores)
#   BENCH_QUICK=1 scripts/bench.sh   smaller payloads, fewer repetitions (a smoke run)
#
# The whole output is also written to bench/out/bench-<date>.txt (git-ignored).
#
# Not part of this run: the boot storm (`make bench-storm`, bench/storm), which
# needs root for its network namespaces and loads the machine for minutes;
# docs/scale.md describes it and records its figures.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p bench/out
# The payloads hold copies of system files (Go sources among them): a go.mod
# makes bench/out its own module, so `go vet ./...` and `go test ./...` of the
# project never walk into it.
[ -f bench/out/go.mod ] || printf 'module benchpayload\n' > bench/out/go.mod
log="bench/out/bench-$(date -u +%Y%m%dT%H%MZ).txt"

quick=()
if [ -n "${BENCH_QUICK:-}" ]; then
  quick=(-reps 3 -tree-mb 16)
fi

# gobench PKG REGEX TARGET_SECONDS LABEL: run one Go benchmark, print its
# median time per op and the ratio to the target.
gobench() {
  local pkg=$1 re=$2 target=$3 label=$4
  go test -run '^$' -bench "$re" -benchtime 3x -count 3 "$pkg" | tee /dev/stderr |
    awk -v t="$target" -v l="$label" '
      /^Benchmark/ && / ns\/op/ { for (i = 1; i <= NF; i++) if ($(i+1) == "ns/op") v[n++] = $i / 1e9 }
      END {
        if (n == 0) { print l ": no result"; exit 1 }
        # median of the runs
        for (i = 0; i < n; i++) for (j = i + 1; j < n; j++) if (v[j] < v[i]) { x = v[i]; v[i] = v[j]; v[j] = x }
        m = v[int(n / 2)]
        printf "%s: median %.3f s, target < %g s, ratio %.2f %s\n", l, m, t, m / t, (m < t ? "(met)" : "(MISSED)")
      }'
}

{
  echo "# fecdeploy benchmarks — $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p')"
  echo
  echo "## archive (issues 2, 16): fec-pack vs tar|zstd -T0 -3 (target <= 1.0, size within 3%), safe extractor vs zstd -d|tar -x (target <= 1.3)"
  if [ -n "${BENCH_QUICK:-}" ]; then BENCH_QUICK=1 go run ./bench/compression; else go run ./bench/compression; fi
  echo
  echo "## storage (issue 2): reindex of 1,000 FECs x 50 links"
  gobench ./storage '^BenchmarkReindex$' 2 "reindex 1000x50"
  echo
  echo "## retention (issue 5): plan for 1,000 FECs x 200 software x 10 versions"
  gobench ./version '^BenchmarkPlan$' 1 "retention plan"
  echo
  echo "## monitoring (issue 15): fecctl icinga for 5,000 FECs x 20 checks (target < 2 s), the read-only baseline, rendering alone"
  gobench ./storage '^BenchmarkIcinga$' 2 "icinga 5000x20 (read, validate, render, write, switch)"
  gobench ./storage '^BenchmarkIcingaReadBaseline$' 2 "baseline: os.ReadFile of every declaration file"
  gobench ./storage '^BenchmarkIcingaRender$' 2 "render only"
  echo
  echo "## fec-boot (issues 3, 16): vs 4 parallel curl|zstd -d|tar -x on tmpfs and disk, with and without sync -f (target <= 1.0);"
  echo "## vs curl|tar -xz loop (target <= 0.5) and the limit (target <= 1.25); second boot < 5%; RSS < 64 MB"
  sh bench/boot.sh "${quick[@]}"
  echo
  echo "## fec-boot.sh (issue 4): vs wget -O-|tar -xz loop under busybox (target <= 1.2)"
  sh bench/boot-shell.sh "${quick[@]}"
  echo
  echo "## dev release to a FEC over loopback ssh (issue 13): vs scp + tar -x (target <= 1.2)"
  if [ -n "${BENCH_QUICK:-}" ]; then go run ./bench/devbench -mb 100 -reps 2; else go run ./bench/devbench -mb 100 -reps 5; fi
  echo
  echo "## fec-persist (issue 12): 100 MB vs ssh tar -czf (target <= 1.2); 50 FECs x 1 MB vs slowest single x 50/8 (target < 1.5)"
  if [ -n "${BENCH_QUICK:-}" ]; then export BENCH_REPS=1; fi
  go test -run '^$' -bench '^BenchmarkPersist' -benchtime 1x -timeout 60m ./persist | grep -E '^persist|^ok|FAIL'
  unset BENCH_REPS
} 2>&1 | tee "$log"
echo "written to $log"
