#!/bin/sh
# fec-boot.sh benchmark (issue 4): the busybox shell client vs the bare loop it
# is built from, `wget -q -O- URL | tar -xzf - -C root`, both under busybox sh
# with a busybox-only PATH, against nginx on loopback; six gzip archives,
# ~300 MB unpacked (ELF binaries and libraries, many small XML files), built
# once into the git-ignored bench/out/boot-shell/.
#
#   bench/boot-shell.sh [-reps N] [-tree-mb MB] [-roots DIR] [-openssl]   (from anywhere)
#
# Needs: go, nginx, busybox. Target: fec-boot.sh / loop <= 1.2 (medians).
# Results: docs/benchmarks.md, section "fec-boot.sh".
set -eu
cd "$(dirname "$0")/.."
exec go run ./bench/boot-shell "$@"
