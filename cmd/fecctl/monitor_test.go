package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fair-acc/fecdeploy/internal/testenv"
	"github.com/fair-acc/fecdeploy/internal/testkit"
	"github.com/fair-acc/fecdeploy/monitor"
)

func TestMonitorAndIcinga(t *testing.T) {
	bin := testenv.RequireTool(t, "icinga2", "/usr/sbin/icinga2")
	dir, base, mustOK := workspace(t)
	mustOK("init")
	mustOK("add-fec", "-arch", "x86_64", "scu01")
	mustOK("add-fec", "-arch", "x86_64", "scu02")
	mustOK("monitor", "add", "scu01", "rda3", "check=tcp", "port=9000", "warning=1", "critical=2")
	mustOK("monitor", "add", "scu01", "web", "check=http", "url=http:///status", "port=8080")
	mustOK("monitor", "groups", "scu01", "sis18", "all-fecs")
	out := mustOK("monitor", "ls", "scu01")
	assert.Contains(t, out, "groups: all-fecs sis18")
	assert.Contains(t, out, "rda3                     check=tcp port=9000 warning=1 critical=2")
	assert.Contains(t, mustOK("monitor", "ls", "scu02"), "scu02 is not monitored")

	before := storageSnapshot(t, base)
	code, _, errs := fecctl(t, "monitor", "add", "scu01", "x", "check=tcp", "port=0")
	assert.Equal(t, 2, code)
	assert.Contains(t, errs, "argument 2 (port=0): port \"0\"")
	assert.Equal(t, before, storageSnapshot(t, base))

	icingaDir := filepath.Join(dir, "icinga")
	out = mustOK("icinga", "-out", icingaDir, "-check", "-icinga2", bin, "-domain", ".acc.example.org")
	assert.Contains(t, out, "(1 monitored FECs)")
	hosts := testkit.ReadFile(t, filepath.Join(icingaDir, monitor.CurrentLink, monitor.FileHosts))
	assert.Contains(t, hosts, `address = "scu01.acc.example.org"`)
	assert.NotContains(t, hosts, "scu02")
	assert.Contains(t, mustOK("icinga", "-out", icingaDir, "-check", "-icinga2", bin, "-domain", ".acc.example.org"), "unchanged")

	// A broken file is refused with file and line; the current set stays.
	set := testkit.Snapshot(t, icingaDir)
	require.NoError(t, os.WriteFile(filepath.Join(base, "fecs/scu01/monitor/rda3"), []byte("check=tcp\nport=9000\nwarning=soon\n"), 0o644))
	code, _, errs = fecctl(t, "icinga", "-out", icingaDir, "-check", "-icinga2", bin)
	assert.NotEqual(t, 0, code)
	assert.Contains(t, errs, "fecs/scu01/monitor/rda3:3: warning \"soon\"")
	assert.Equal(t, set, testkit.Snapshot(t, icingaDir))

	mustOK("monitor", "rm", "scu01", "rda3")
	out = mustOK("icinga", "-out", icingaDir, "-check", "-icinga2", bin, "-reload", "touch "+filepath.Join(dir, "reloaded"))
	assert.Contains(t, out, "Icinga reloaded")
	assert.FileExists(t, filepath.Join(dir, "reloaded"))
}
