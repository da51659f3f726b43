package fec

// The frozen syscall package has no SYS_SYNCFS for amd64.
const sysSyncfs = 306
