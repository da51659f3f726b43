SUMMARY = "fecdeploy boot client for busybox FECs (fec-boot.sh)"
DESCRIPTION = "Fetches this FEC's INDEX from the fecdeploy web storage, installs \
the archives it names (sha256-verified, staged) and runs the init scripts. POSIX sh \
on busybox applets, for targets without Go (e.g. 32-bit PowerPC)."
HOMEPAGE = "https://github.com/fair-acc/fecdeploy"
LICENSE = "CLOSED"

# fec-boot.sh comes from the fecdeploy repository (client/fec-boot.sh), or is
# written out by `fecctl` from the copy embedded in the Go module.
SRC_URI = "git://github.com/fair-acc/fecdeploy.git;protocol=https;branch=main;destsuffix=git \
           file://fecdeploy-shell.init \
           file://fecdeploy-shell.service \
           file://fecdeploy.conf \
          "
SRCREV = "${AUTOREV}"
# Where sources are unpacked: ${UNPACKDIR} since styhead (5.1), ${WORKDIR}
# before (UNPACKDIR is undefined there). Parses on kirkstone (4.0) through
# whinlatter (5.3), which refuses a literal ${WORKDIR} in S.
FECDEPLOY_SRC = "${@d.getVar('UNPACKDIR') or d.getVar('WORKDIR')}"
S = "${FECDEPLOY_SRC}/git"

inherit update-rc.d systemd

INITSCRIPT_NAME = "fecdeploy"
# After oe-core's networking (rc[2-5].d/S01) and dbus (S02), before the
# equipment services (update-rc.d's default is S20).
INITSCRIPT_PARAMS = "start 03 2 3 4 5 ."
SYSTEMD_SERVICE:${PN} = "fecdeploy.service"

do_configure[noexec] = "1"
do_compile[noexec] = "1"

do_install() {
    install -d ${D}${sbindir} ${D}${sysconfdir}
    install -m 0755 ${S}/client/fec-boot.sh ${D}${sbindir}/fec-boot.sh
    install -m 0644 ${FECDEPLOY_SRC}/fecdeploy.conf ${D}${sysconfdir}/fecdeploy.conf
    if ${@bb.utils.contains('DISTRO_FEATURES', 'sysvinit', 'true', 'false', d)}; then
        install -d ${D}${sysconfdir}/init.d
        install -m 0755 ${FECDEPLOY_SRC}/fecdeploy-shell.init ${D}${sysconfdir}/init.d/fecdeploy
    fi
    if ${@bb.utils.contains('DISTRO_FEATURES', 'systemd', 'true', 'false', d)}; then
        install -d ${D}${systemd_system_unitdir}
        install -m 0644 ${FECDEPLOY_SRC}/fecdeploy-shell.service ${D}${systemd_system_unitdir}/fecdeploy.service
    fi
}

CONFFILES:${PN} = "${sysconfdir}/fecdeploy.conf"

# busybox gives sh, wget, tar, gzip, xz, sha256sum, awk, sed, find, od, mv.
# zstd lets it unpack .tar.zst archives (else publish gzip/xz for this FEC and
# record `fecctl add-fec --decoders gzip,xz`); openssl (3.0+) verifies a
# signed INDEX and the keyring (needed when public_keys or root_keys is set);
# curl replaces busybox wget.
RDEPENDS:${PN} = "busybox"
RRECOMMENDS:${PN} = "zstd openssl-bin"
RSUGGESTS:${PN} = "curl"
