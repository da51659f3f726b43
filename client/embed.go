// Package client holds fec-boot.sh, the boot client for FECs that cannot run
// Go (PowerPC on Yocto), embedded as Script so that fecctl can write it into
// an image. The script is POSIX shell for busybox ash and busybox applets;
// it follows the Go client (package fec, cmd/fec-boot) and the conformance
// suite checks it against it. docs/boot-shell.md describes it.
package client

import _ "embed"

// Script is fec-boot.sh as kept in the repository.
//
//go:embed fec-boot.sh
var Script []byte

// ScriptName is the file name the script is installed under.
const ScriptName = "fec-boot.sh"
