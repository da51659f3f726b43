package publish

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fair-acc/fecdeploy/internal/testkit"
	"github.com/fair-acc/fecdeploy/monitor"
	"github.com/fair-acc/fecdeploy/storage"
)

// What fec-pack does: a productive release packed from a staged tree that
// carries fecdeploy-monitor.conf, linked to a monitored FEC, adds the check;
// a dev release of it takes the check away again.
func TestReleaseFillsMonitor(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	st, err := storage.Init(filepath.Join(dir, "ws"))
	require.NoError(t, err)
	require.NoError(t, st.AddFEC(ctx, "scu01", storage.FECConfig{Arch: "x86_64"}))
	require.NoError(t, st.SetMonitorGroups(ctx, "scu01", []string{"sis18"}))
	src := testkit.WriteTree(t, filepath.Join(dir, "src"), map[string]string{
		"bin/Foo_DU":                 "ELF",
		"etc/fecdeploy-monitor.conf": "check=tcp\nport=9000\ncritical=3\n",
	})
	for _, v := range []string{"1.0.0", "dev"} {
		_, err = Release(ctx, st, Request{Name: "Foo_DU", Version: v, Arch: "x86_64", SourceDir: src,
			Prefix: "opt/fesa/Foo_DU/" + v, Link: []string{"scu01"}})
		require.NoError(t, err)
		h, ok, err := st.MonitorServices(ctx, "scu01")
		require.NoError(t, err)
		require.True(t, ok)
		if v == "dev" {
			assert.Empty(t, h.Services, "dev releases are not monitored")
			continue
		}
		require.Len(t, h.Services, 1)
		assert.Equal(t, monitor.Service{Name: "Foo_DU", Kind: monitor.KindTCP, Port: 9000, Critical: "3", Software: "Foo_DU", Version: "1.0.0"}, h.Services[0])
	}
}
