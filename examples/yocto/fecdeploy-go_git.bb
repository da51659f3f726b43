SUMMARY = "fecdeploy boot client (Go, fec-boot)"
DESCRIPTION = "Fetches this FEC's INDEX from the fecdeploy web storage, installs \
the archives it names and runs the init scripts. Needs a Yocto release whose Go \
is 1.24 or newer: oe-core walnascar (5.2, Go 1.24) and later. Older releases: \
fecdeploy-go-bin."
HOMEPAGE = "https://github.com/fair-acc/fecdeploy"
LICENSE = "CLOSED"

GO_IMPORT = "github.com/fair-acc/fecdeploy"
SRC_URI = "git://${GO_IMPORT}.git;protocol=https;branch=main;destsuffix=${GO_SRCURI_DESTSUFFIX} \
           file://fecdeploy-go.init \
           file://fecdeploy-go.service \
           file://fecdeploy.conf \
          "
SRCREV = "${AUTOREV}"

# go-mod: modules are fetched by `go mod download` at do_compile (network
# allowed), or vendored with the go-mod-update-modules class (whinlatter and later).
inherit go-mod update-rc.d systemd

GO_INSTALL = "${GO_IMPORT}/cmd/fec-boot"
GO_LINKSHARED = ""
GOBUILDFLAGS:append = " -trimpath"
export CGO_ENABLED = "0"
do_compile[network] = "1"

# After oe-core's networking (rc[2-5].d/S01) and dbus (S02), before the
# equipment services (update-rc.d's default is S20).
INITSCRIPT_NAME = "fecdeploy"
INITSCRIPT_PARAMS = "start 03 2 3 4 5 ."
SYSTEMD_SERVICE:${PN} = "fecdeploy.service"

# file:// sources are in ${UNPACKDIR} (every release with Go >= 1.24 has it).
do_install:append() {
    install -d ${D}${sysconfdir}
    install -m 0644 ${UNPACKDIR}/fecdeploy.conf ${D}${sysconfdir}/fecdeploy.conf
    if ${@bb.utils.contains('DISTRO_FEATURES', 'sysvinit', 'true', 'false', d)}; then
        install -d ${D}${sysconfdir}/init.d
        install -m 0755 ${UNPACKDIR}/fecdeploy-go.init ${D}${sysconfdir}/init.d/fecdeploy
    fi
    if ${@bb.utils.contains('DISTRO_FEATURES', 'systemd', 'true', 'false', d)}; then
        install -d ${D}${systemd_system_unitdir}
        install -m 0644 ${UNPACKDIR}/fecdeploy-go.service ${D}${systemd_system_unitdir}/fecdeploy.service
    fi
    # go-mod installs the source tree too; the image needs only the binary.
    rm -rf ${D}${libdir}/go
}

CONFFILES:${PN} = "${sysconfdir}/fecdeploy.conf"
RRECOMMENDS:${PN} = "ca-certificates"
