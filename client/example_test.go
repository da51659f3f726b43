package client_test

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"

	"github.com/fair-acc/fecdeploy/client"
)

// Writing the embedded script into an image's root file system, as fecctl
// does for a Yocto build.
func ExampleScript() {
	dir, _ := os.MkdirTemp("", "image")
	defer os.RemoveAll(dir)
	dst := filepath.Join(dir, "usr/sbin", client.ScriptName)
	_ = os.MkdirAll(filepath.Dir(dst), 0o755)
	if err := os.WriteFile(dst, client.Script, 0o755); err != nil {
		fmt.Println(err)
		return
	}
	first, _ := bufio.NewReader(bytes.NewReader(client.Script)).ReadString('\n')
	fmt.Print(filepath.Base(dst), ": ", first)
	// Output: fec-boot.sh: #!/bin/sh
}
