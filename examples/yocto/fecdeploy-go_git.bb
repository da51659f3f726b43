SUMMARY = "fecdeploy boot client (Go, fec-boot)"
DESCRIPTION = "Fetches this FEC's INDEX from the fecdeploy web storage, installs \
the archives it names and runs the init scripts. Needs a Yocto release whose Go \
is 1.24 or newer (scarthgap with meta-lts-mixins, or styhead and later)."
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
# allowed), or vendored with the go-mod-update-modules class on newer releases.
inherit go-mod update-rc.d systemd

GO_INSTALL = "${GO_IMPORT}/cmd/fec-boot"
GO_LINKSHARED = ""
GOBUILDFLAGS:append = " -trimpath"
export CGO_ENABLED = "0"
do_compile[network] = "1"

INITSCRIPT_NAME = "fecdeploy"
INITSCRIPT_PARAMS = "start 30 S ."
SYSTEMD_SERVICE:${PN} = "fecdeploy.service"

do_install:append() {
    install -d ${D}${sysconfdir}
    install -m 0644 ${WORKDIR}/fecdeploy.conf ${D}${sysconfdir}/fecdeploy.conf
    if ${@bb.utils.contains('DISTRO_FEATURES', 'sysvinit', 'true', 'false', d)}; then
        install -d ${D}${sysconfdir}/init.d
        install -m 0755 ${WORKDIR}/fecdeploy-go.init ${D}${sysconfdir}/init.d/fecdeploy
    fi
    if ${@bb.utils.contains('DISTRO_FEATURES', 'systemd', 'true', 'false', d)}; then
        install -d ${D}${systemd_system_unitdir}
        install -m 0644 ${WORKDIR}/fecdeploy-go.service ${D}${systemd_system_unitdir}/fecdeploy.service
    fi
    # go-mod installs the source tree too; the image needs only the binary.
    rm -rf ${D}${libdir}/go
}

CONFFILES:${PN} = "${sysconfdir}/fecdeploy.conf"
RRECOMMENDS:${PN} = "ca-certificates"
