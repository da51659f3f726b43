# fecdeploy.mk — publish a devacc project to the fecdeploy web storage on `make install`.
#
# Include it at the end of a project Makefile that has an `install` rule honouring
# DESTDIR, then:
#   make install VERSION=1.2.0 FECS=fec01,fec02        productive release, linked to two FECs
#   make install VERSION=dev FECS=fec01                dev release (see FECDEPLOY_DEV_MODE)
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
