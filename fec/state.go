package fec

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/fair-acc/fecdeploy/index"
	"github.com/fair-acc/fecdeploy/internal/durable"
)

// The state directory:
//
//	<state>/installed/<kind>/<name>   "sha256=<hex> version=<v> path=<INDEX path>\n", written after commit
//	<state>/scripts/<NN-name>         verified local copies of the init scripts, mode 0755
//	<state>/status.json               the last boot's status (default StatusFile)

func (s *session) statePath(k index.Kind, name string) string {
	return filepath.Join(s.cfg.StateDir, "installed", string(k), name)
}

// installedSHA returns the sha256 recorded for an entry, or "".
func (s *session) installedSHA(k index.Kind, name string) string {
	data, err := os.ReadFile(s.statePath(k, name))
	if err != nil {
		return ""
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Split(bufio.ScanWords)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "sha256="); ok {
			return v
		}
	}
	return ""
}

func (s *session) recordInstalled(e index.Entry) error {
	line := fmt.Sprintf("sha256=%s version=%s path=%s\n", e.SHA256, e.Version, e.Path)
	return writeFileAtomic(s.statePath(e.Kind, e.Name), []byte(line), 0o644)
}

// writeFileAtomic writes a file durably: temp file, fsync, rename, fsync dir.
func writeFileAtomic(path string, data []byte, perm os.FileMode) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	return durable.WriteFile(path, data, perm)
}
