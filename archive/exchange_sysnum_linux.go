//go:build linux

package archive

import "runtime"

// sysRenameat2 is renameat2's number where it is known (0: use two renames).
var sysRenameat2 = map[string]uintptr{
	"amd64": 316, "386": 353, "arm64": 276, "riscv64": 276, "loong64": 276,
	"arm": 382, "ppc64": 357, "ppc64le": 357, "s390x": 347, "mips64": 5311, "mips64le": 5311,
	"mips": 4351, "mipsle": 4351,
}[runtime.GOARCH]
