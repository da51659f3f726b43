//go:build linux && !amd64 && !386

package fec

import "syscall"

const sysSyncfs = syscall.SYS_SYNCFS
