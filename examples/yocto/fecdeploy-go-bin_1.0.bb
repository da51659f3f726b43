SUMMARY = "fecdeploy boot client (Go, fec-boot), prebuilt static binary"
DESCRIPTION = "For Yocto releases whose Go is older than 1.24 (fecdeploy's go.mod \
needs 1.24; oe-core ships Go 1.24 from walnascar 5.2 on): ships the static fec-boot \
built outside Yocto with `make cross` (dist/linux-<arch>/fec-boot, CGO_ENABLED=0). \
Parses on kirkstone (4.0) through whinlatter (5.3)."
HOMEPAGE = "https://github.com/fair-acc/fecdeploy"
LICENSE = "CLOSED"

# Copy dist/linux-<goarch>/fec-boot from `make cross` into files/<goarch>/.
GOARCH_BIN = "${@ {'x86_64': 'amd64', 'i686': '386', 'i586': '386', 'aarch64': 'arm64', 'arm': 'arm', 'powerpc64le': 'ppc64le'}.get(d.getVar('TARGET_ARCH'), 'unsupported')}"
SRC_URI = "file://${GOARCH_BIN}/fec-boot \
           file://fecdeploy-go.init \
           file://fecdeploy-go.service \
           file://fecdeploy.conf \
          "
# Where file:// sources are unpacked: ${UNPACKDIR} since styhead (5.1),
# ${WORKDIR} before (UNPACKDIR is undefined there).
FECDEPLOY_SRC = "${@d.getVar('UNPACKDIR') or d.getVar('WORKDIR')}"
S = "${FECDEPLOY_SRC}"

inherit bin_package update-rc.d systemd

# A static Go binary: no stripping by bitbake, no shared-library deps.
INHIBIT_PACKAGE_STRIP = "1"
INHIBIT_PACKAGE_DEBUG_SPLIT = "1"
INSANE_SKIP:${PN} += "already-stripped ldflags"
COMPATIBLE_HOST = "(x86_64|i.86|aarch64|arm|powerpc64le).*-linux"

# After oe-core's networking (rc[2-5].d/S01) and dbus (S02), before the
# equipment services (update-rc.d's default is S20).
INITSCRIPT_NAME = "fecdeploy"
INITSCRIPT_PARAMS = "start 03 2 3 4 5 ."
SYSTEMD_SERVICE:${PN} = "fecdeploy.service"

do_install() {
    install -d ${D}${bindir} ${D}${sysconfdir}
    install -m 0755 ${FECDEPLOY_SRC}/${GOARCH_BIN}/fec-boot ${D}${bindir}/fec-boot
    install -m 0644 ${FECDEPLOY_SRC}/fecdeploy.conf ${D}${sysconfdir}/fecdeploy.conf
    if ${@bb.utils.contains('DISTRO_FEATURES', 'sysvinit', 'true', 'false', d)}; then
        install -d ${D}${sysconfdir}/init.d
        install -m 0755 ${FECDEPLOY_SRC}/fecdeploy-go.init ${D}${sysconfdir}/init.d/fecdeploy
    fi
    if ${@bb.utils.contains('DISTRO_FEATURES', 'systemd', 'true', 'false', d)}; then
        install -d ${D}${systemd_system_unitdir}
        install -m 0644 ${FECDEPLOY_SRC}/fecdeploy-go.service ${D}${systemd_system_unitdir}/fecdeploy.service
    fi
}

CONFFILES:${PN} = "${sysconfdir}/fecdeploy.conf"
