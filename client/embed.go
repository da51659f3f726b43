// Package client holds fec-boot.sh, the boot client for FECs that cannot run
// Go (PowerPC on Yocto): a POSIX shell script for busybox ash and busybox
// applets, following the Go client (package fec, cmd/fec-boot) and checked
// against it by the conformance suite. docs/boot-shell.md describes it.
//
// The script is embedded so that fecctl can write it out for an image.
package client

import _ "embed"

// Script is fec-boot.sh as kept in the repository.
//
//go:embed fec-boot.sh
var Script []byte

// ScriptName is the file name the script is installed under.
const ScriptName = "fec-boot.sh"
