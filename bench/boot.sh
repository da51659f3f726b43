#!/bin/sh
# fec-boot benchmark (issue 3): fec-boot vs the seed's `curl | tar -xzf -` loop
# and the same loop with zstd, against nginx on loopback; payload of six
# archives, ~300 MB unpacked, built once into the git-ignored bench/out/_boot/.
#
#   bench/boot.sh [-reps N] [-parallel N] [-tree-mb MB]     (from anywhere)
#
# Needs: go, nginx, curl, zstd, GNU tar. Results: docs/benchmarks.md, "fec-boot".
set -eu
cd "$(dirname "$0")/.."
exec go run ./bench/bootbench "$@"
