# fecdeploy.mk — publish a devacc project to the fecdeploy web storage on `make install`.
#
# Include it at the END of a project Makefile that has an ordinary `install` rule
# honouring DESTDIR and PREFIX (or prefix), e.g.
#     install: build
#             install -d $(DESTDIR)$(PREFIX)/bin
#             install -m 0755 foo $(DESTDIR)$(PREFIX)/bin/foo
#     include /path/to/fecdeploy.mk
# then:
#   make install VERSION=1.2.0 FECS=fec01,fec02        productive release, linked to two FECs
#   make install VERSION=dev FECS=fec01                dev release: published as version "dev";
#                                                      a FEC linked to it installs it but does
#                                                      not start it as a daemon at boot
#   make dev FEC=scu01                                 dev release straight onto one FEC over ssh (below)
#
# What `make install` does with this include: it runs the project's own install
# rule once, in a sub-make, with DESTDIR set to a fresh temporary staging directory
# and PREFIX=/$(FECDEPLOY_PREFIX), packs what landed below that prefix with fec-pack
# and publishes it. The top-level run of the project's install recipe is muted, so
# nothing is installed on the build host. The staging directory is removed whether
# the publish succeeds or is refused. `make install FECDEPLOY=no` is the plain
# install, as without the include.
#
# Variables (override on the command line or before the include):
#   VERSION              strict semver (1.2.0) or "dev"; required
#   PROJECT              software name in the storage (default: the directory name)
#   ARCH                 x86_64, i686, ppc, ... (default: uname -m)
#   FECDEPLOY_STORAGE    the web storage on this (writer) host (default /srv/web-storage)
#   FECDEPLOY_PREFIX     unpack location on the FEC (default opt/devacc/$(PROJECT)/$(VERSION))
#   FECDEPLOY_FORMAT     zstd, gzip or xz (default: empty, fec-pack picks the format
#                        every FEC of ARCH's family can read: gzip for ppc, else zstd)
#   FECS                 comma-separated FECs to link right away (optional)
#   FEC_PACK             the fec-pack binary (default: fec-pack on PATH)
#   FECDEPLOY            "no": plain install, no publishing

PROJECT           ?= $(notdir $(CURDIR))
ARCH              ?= $(shell uname -m)
FECDEPLOY_STORAGE ?= /srv/web-storage
FECDEPLOY_PREFIX  ?= opt/devacc/$(PROJECT)/$(VERSION)
FECDEPLOY_FORMAT  ?=
FEC_PACK          ?= fec-pack
FECS              ?=

# FECDEPLOY_STAGE is set in the staging sub-make: there `install` is the project's own.
ifeq ($(FECDEPLOY_STAGE)$(FECDEPLOY),)

.PHONY: install fecdeploy-publish
install: fecdeploy-publish
# The project's recipe for `install` at this level would install on the build host:
# mute it (the sub-make below ran it into the staging directory). `private` keeps
# install's prerequisites (e.g. `build`) running with the real shell.
install: private SHELL := /bin/true
.SILENT: install

fecdeploy-publish:
	@test -n "$(VERSION)" || { echo "fecdeploy.mk: set VERSION (e.g. make install VERSION=1.2.0); FECDEPLOY=no for a plain install" >&2; exit 2; }
	@staging=$$(mktemp -d "$${TMPDIR:-/tmp}/fecdeploy-staging.XXXXXX") || exit 1; \
	trap 'rm -rf "$$staging"' EXIT; trap 'exit 130' INT TERM; \
	echo "fecdeploy.mk: staging the install rule into $$staging"; \
	$(MAKE) --no-print-directory FECDEPLOY_STAGE=1 DESTDIR="$$staging" \
	  PREFIX=/$(FECDEPLOY_PREFIX) prefix=/$(FECDEPLOY_PREFIX) install || exit $$?; \
	if [ ! -d "$$staging/$(FECDEPLOY_PREFIX)" ]; then \
	  echo "fecdeploy.mk: the install rule put nothing below PREFIX=/$(FECDEPLOY_PREFIX); it must install to \$$(DESTDIR)\$$(PREFIX)/... (found: $$(cd "$$staging" && find . -mindepth 1 -maxdepth 3 | head -5 | tr '\n' ' '))" >&2; \
	  exit 2; \
	fi; \
	$(FEC_PACK) -storage "$(FECDEPLOY_STORAGE)" -name "$(PROJECT)" -version "$(VERSION)" \
	  -arch "$(ARCH)" -prefix "$(FECDEPLOY_PREFIX)" $(if $(FECDEPLOY_FORMAT),-format "$(FECDEPLOY_FORMAT)") \
	  $(if $(FECS),-link "$(FECS)") "$$staging/$(FECDEPLOY_PREFIX)"


# Dev release straight onto one FEC, not into the web storage (the seed:
# dev releases are "directly copied to the FEC"):
#   make dev FEC=scu01
# It stages the install rule as `make install` does, then fec-pack copies the
# archive over ssh (your keys, ~/.ssh/config, known_hosts) and installs it
# there with the FEC's own client, recorded as a dev release that start
# scripts do not run as a daemon.
#   FEC                  the FEC (host name or ssh alias)
#   FECDEPLOY_DEV_PREFIX unpack location (default opt/devacc/$(PROJECT)/dev)
#   FECDEPLOY_FEC_CLIENT the FEC's client (default fec-boot; fec-boot.sh on busybox FECs)
#   FECDEPLOY_SSH_CONFIG an ssh configuration file instead of ~/.ssh/config
FECDEPLOY_DEV_PREFIX ?= opt/devacc/$(PROJECT)/dev

.PHONY: dev fecdeploy-dev
dev: fecdeploy-dev

fecdeploy-dev:
	@test -n "$(FEC)" || { echo "fecdeploy.mk: set FEC (e.g. make dev FEC=scu01)" >&2; exit 2; }
	@staging=$$(mktemp -d "$${TMPDIR:-/tmp}/fecdeploy-staging.XXXXXX") || exit 1; \
	trap 'rm -rf "$$staging"' EXIT; trap 'exit 130' INT TERM; \
	$(MAKE) --no-print-directory FECDEPLOY_STAGE=1 DESTDIR="$$staging" \
	  PREFIX=/$(FECDEPLOY_DEV_PREFIX) prefix=/$(FECDEPLOY_DEV_PREFIX) install || exit $$?; \
	if [ ! -d "$$staging/$(FECDEPLOY_DEV_PREFIX)" ]; then \
	  echo "fecdeploy.mk: the install rule put nothing below PREFIX=/$(FECDEPLOY_DEV_PREFIX)" >&2; \
	  exit 2; \
	fi; \
	$(FEC_PACK) -dev -to-fec "$(FEC)" -name "$(PROJECT)" -arch "$(ARCH)" -prefix "$(FECDEPLOY_DEV_PREFIX)" \
	  $(if $(FECDEPLOY_FORMAT),-format "$(FECDEPLOY_FORMAT)") "$$staging/$(FECDEPLOY_DEV_PREFIX)"

endif
