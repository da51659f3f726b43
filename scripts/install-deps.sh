#!/usr/bin/env bash
# Installs the Debian packages the integration tests run against, when missing:
# nginx (the web storage), busybox (the PowerPC FEC userland), zstd/xz/gzip/curl
# (baselines and the shell client's decoders), OpenSSH server and client (dev
# releases, persistent-data pulls, the release service's restart/reboot),
# icinga2 (monitoring config validation), PostgreSQL 15 (the release service's
# database), Chromium (its web pages), shellcheck (every shell file), iproute2
# (the boot-storm benchmark's namespaces). Idempotent; needs root for apt-get.
set -euo pipefail

declare -A pkg_for=(
  [nginx]=nginx
  [busybox]=busybox
  [zstd]=zstd
  [xz]=xz-utils
  [gzip]=gzip
  [curl]=curl
  [openssl]=openssl
  [sshd]=openssh-server
  [ssh]=openssh-client
  [icinga2]=icinga2
  [/usr/lib/postgresql/15/bin/initdb]=postgresql
  [chromium]=chromium
  [shellcheck]=shellcheck
  [ip]=iproute2
)
missing=()
for tool in "${!pkg_for[@]}"; do
  if ! command -v "$tool" >/dev/null 2>&1 && ! [ -x "/usr/sbin/$tool" ] && ! [ -x "$tool" ]; then
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
