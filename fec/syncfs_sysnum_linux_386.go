package fec

// The frozen syscall package has no SYS_SYNCFS for 386.
const sysSyncfs = 344
