# fecdeploy.mk — publish a devacc project to the fecdeploy web storage on `make install`.
#
# Include it at the end of a project Makefile that has an `install` rule honouring
# DESTDIR, then:
#   make install VERSION=1.2.0 FECS=fec01,fec02        productive release, linked to two FECs
#   make install VERSION=dev FECS=fec01                dev release (see FECDEPLOY_DEV_MODE)
#   make dev FEC=scu01                                 dev release straight onto one FEC over ssh (below)
#
# Variables (override on the command line or before the include):
#   PROJECT              software name in the storage (default: the directory name)
#   VERSION              strict semver (1.2.0) or "dev"
#   ARCH                 x86_64, i686, ppc, ... (default: uname -m)
#   FECDEPLOY_STORAGE    the web storage on this (writer) host (default /srv/web-storage)
#   FECDEPLOY_PREFIX     unpack location on the FEC (default opt/devacc/$(PROJECT)/$(VERSION))
#   FECDEPLOY_FORMAT     zstd (default), gzip or xz: gzip for busybox FECs without zstd
#   FECS                 comma-separated FECs to link right away (optional)
#   FEC_PACK             the fec-pack binary (default: fec-pack on PATH)

PROJECT           ?= $(notdir $(CURDIR))
ARCH              ?= $(shell uname -m)
FECDEPLOY_STORAGE ?= /srv/web-storage
FECDEPLOY_PREFIX  ?= opt/devacc/$(PROJECT)/$(VERSION)
FECDEPLOY_FORMAT  ?= zstd
FECDEPLOY_STAGING ?= $(CURDIR)/.fecdeploy-staging
FEC_PACK          ?= fec-pack
FECS              ?=

.PHONY: fecdeploy-install
install: fecdeploy-install

# Stage the project's own install rule into an empty tree, then pack the part
# below the prefix and publish it. fec-pack refuses a bad name or version and
# republishing different bytes under an existing productive version.
fecdeploy-install:
	@test -n "$(VERSION)" || { echo "fecdeploy.mk: set VERSION (e.g. make install VERSION=1.2.0)" >&2; exit 2; }
	rm -rf "$(FECDEPLOY_STAGING)"
	$(MAKE) --no-print-directory DESTDIR="$(FECDEPLOY_STAGING)" PREFIX=/$(FECDEPLOY_PREFIX) fecdeploy-stage
	$(FEC_PACK) -storage "$(FECDEPLOY_STORAGE)" -name "$(PROJECT)" -version "$(VERSION)" \
	  -arch "$(ARCH)" -prefix "$(FECDEPLOY_PREFIX)" -format "$(FECDEPLOY_FORMAT)" \
	  $(if $(FECS),-link "$(FECS)") "$(FECDEPLOY_STAGING)/$(FECDEPLOY_PREFIX)"
	rm -rf "$(FECDEPLOY_STAGING)"

# Dev release straight onto one FEC, not into the web storage (the seed:
# dev releases are "directly copied to the FEC"):
#   make dev FEC=scu01
# fec-pack copies the archive over ssh (your keys, ~/.ssh/config,
# known_hosts) and installs it there with the FEC's own client, recorded as
# a dev release that start scripts do not run as a daemon.
#   FEC                  the FEC (host name or ssh alias)
#   FECDEPLOY_DEV_PREFIX unpack location (default opt/devacc/$(PROJECT)/dev)
#   FECDEPLOY_FEC_CLIENT the FEC's client (default fec-boot; fec-boot.sh on busybox FECs)
#   FECDEPLOY_SSH_CONFIG an ssh configuration file instead of ~/.ssh/config
FECDEPLOY_DEV_PREFIX ?= opt/devacc/$(PROJECT)/dev

.PHONY: dev fecdeploy-dev
dev: fecdeploy-dev

fecdeploy-dev:
	@test -n "$(FEC)" || { echo "fecdeploy.mk: set FEC (e.g. make dev FEC=scu01)" >&2; exit 2; }
	rm -rf "$(FECDEPLOY_STAGING)"
	$(MAKE) --no-print-directory DESTDIR="$(FECDEPLOY_STAGING)" PREFIX=/$(FECDEPLOY_DEV_PREFIX) fecdeploy-stage
	$(FEC_PACK) -dev -to-fec "$(FEC)" -name "$(PROJECT)" -prefix "$(FECDEPLOY_DEV_PREFIX)" \
	  -format "$(FECDEPLOY_FORMAT)" "$(FECDEPLOY_STAGING)/$(FECDEPLOY_DEV_PREFIX)"
	rm -rf "$(FECDEPLOY_STAGING)"
