package testkit_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fair-acc/fecdeploy/internal/testkit"
)

func TestWriteTreeAndSnapshot(t *testing.T) {
	dir := testkit.WriteTree(t, t.TempDir(), map[string]string{
		"opt/a.txt":    "hello",
		"opt/bin/tool": "#!/bin/sh\n",
		"opt/empty/":   "",
		"opt/link":     "-> a.txt",
	})
	snap := testkit.Snapshot(t, dir)
	assert.Equal(t, "link a.txt", snap["opt/link"])
	assert.Equal(t, "dir 755", snap["opt/empty"])
	assert.Regexp(t, `^file 644 [0-9a-f]{16}$`, snap["opt/a.txt"])
	assert.Regexp(t, `^file 755 `, snap["opt/bin/tool"])
	assert.Equal(t, []string{"opt/", "opt/a.txt", "opt/bin/", "opt/bin/tool", "opt/empty/", "opt/link"}, testkit.Paths(t, dir))

	require.NoError(t, os.WriteFile(filepath.Join(dir, "opt/a.txt"), []byte("changed"), 0o644))
	assert.NotEqual(t, snap, testkit.Snapshot(t, dir), "a changed file changes the snapshot")
	skipped := testkit.Snapshot(t, dir, testkit.SnapshotOptions{Skip: func(rel string) bool { return rel == "opt/bin" }})
	assert.NotContains(t, skipped, "opt/bin/tool")
	assert.Empty(t, testkit.Snapshot(t, filepath.Join(dir, "missing")))
	assert.Equal(t, "changed", testkit.ReadFile(t, filepath.Join(dir, "opt/a.txt")))
	assert.Equal(t, "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824", testkit.SHA256([]byte("hello")))
}
