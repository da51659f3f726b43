#!/usr/bin/env bash
# Installs the Debian packages the integration tests run against, when missing:
# nginx (the web storage), busybox (the PowerPC FEC userland), zstd/xz/gzip/curl
# (baselines and the shell client's decoders). Idempotent; needs root for apt-get.
set -euo pipefail

declare -A pkg_for=(
  [nginx]=nginx
  [busybox]=busybox
  [zstd]=zstd
  [xz]=xz-utils
  [gzip]=gzip
  [curl]=curl
  [openssl]=openssl
)
missing=()
for tool in "${!pkg_for[@]}"; do
  if ! command -v "$tool" >/dev/null 2>&1 && ! [ -x "/usr/sbin/$tool" ]; then
    missing+=("${pkg_for[$tool]}")
  fi
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
echo "install-deps: installing ${missing[*]}" >&2
if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps: not root; run: sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
