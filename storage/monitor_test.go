package storage_test

import (
	"bytes"
	"context"
	"flag"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fair-acc/fecdeploy/archive"
	"github.com/fair-acc/fecdeploy/index"
	"github.com/fair-acc/fecdeploy/internal/testkit"
	"github.com/fair-acc/fecdeploy/monitor"
	"github.com/fair-acc/fecdeploy/storage"
	"github.com/fair-acc/fecdeploy/version"
)

var updateMonitor = flag.Bool("update-monitor", false, "rewrite testdata/monitor/*.golden")

// publishReal packs tree into a real archive and publishes it.
func publishReal(t *testing.T, st *storage.Storage, name, ver string, tree map[string]string) {
	t.Helper()
	ctx := context.Background()
	var b bytes.Buffer
	_, err := archive.Pack(ctx, &b, testkit.WriteTree(t, t.TempDir(), tree), archive.PackOptions{Format: index.FormatGzip, Prefix: "opt/fesa/" + name + "/" + ver})
	require.NoError(t, err)
	_, err = st.Publish(ctx, storage.PublishRequest{Kind: index.KindSoftware, Name: name, Version: version.MustParse(ver), Arch: "x86_64", Body: &b})
	require.NoError(t, err)
}

// generated renders the storage's monitoring as Icinga objects (hosts and
// services files).
func generated(t *testing.T, st *storage.Storage) string {
	t.Helper()
	hosts, err := st.MonitorHosts(context.Background(), monitor.ParseOptions{})
	require.NoError(t, err)
	files, err := monitor.Render(hosts, monitor.RenderOptions{Domain: ".acc.example.org"})
	require.NoError(t, err)
	var b strings.Builder
	for _, f := range files {
		if f.Name == monitor.FileHosts || f.Name == monitor.FileServices || f.Name == monitor.FileHostGroups {
			b.WriteString("==> " + f.Name + " <==\n")
			b.Write(f.Data)
		}
	}
	return b.String()
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	p := filepath.Join("testdata", "monitor", name+".golden")
	if *updateMonitor {
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, []byte(got), 0o644))
	}
	want, err := os.ReadFile(p)
	require.NoError(t, err, "run go test ./storage -run Monitor -update-monitor")
	assert.Equal(t, string(want), got, name)
}

// A release, a switch, a dev release and an unlink change the generated
// configuration; hand-written checks and unmonitored FECs stay as they are.
func TestMonitorFollowsReleases(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	var logs bytes.Buffer
	st, err := storage.Init(t.TempDir(), storage.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	require.NoError(t, err)
	for _, fec := range []string{"scu01", "scu02"} {
		require.NoError(t, st.AddFEC(ctx, fec, storage.FECConfig{Arch: "x86_64"}))
	}
	publishReal(t, st, "Foo_DU", "1.0.0", map[string]string{"bin/Foo_DU": "ELF 1.0.0"})
	publishReal(t, st, "Foo_DU", "1.1.0", map[string]string{"bin/Foo_DU": "ELF 1.1.0",
		"etc/fecdeploy-monitor.conf": "# how Foo_DU is checked\ncheck=systemd\nunit=fesa@${software}.service\ninterval=1m\n"})
	publishReal(t, st, "Foo_DU", "dev", map[string]string{"bin/Foo_DU": "ELF dev"})
	publishReal(t, st, "libbar", "2.0.0", map[string]string{"lib/libbar.so": "ELF"})

	// scu01 is monitored (groups and a hand-written check); scu02 is not.
	require.NoError(t, st.SetMonitorGroups(ctx, "scu01", []string{"sis18", "all-fecs"}))
	require.NoError(t, st.AddMonitorService(ctx, "scu01", monitor.Service{Name: "rda3", Kind: monitor.KindTCP, Port: 9000}))
	golden(t, "0-start", generated(t, st))

	require.NoError(t, st.Link(ctx, "scu01", index.KindSoftware, "Foo_DU", "1.0.0"))
	require.NoError(t, st.Link(ctx, "scu02", index.KindSoftware, "Foo_DU", "1.0.0"))
	require.NoError(t, st.Link(ctx, "scu01", index.KindSoftware, "libbar", "2.0.0"))
	golden(t, "1-link", generated(t, st)) // FESA default: a process check; libbar: none
	assert.NoDirExists(t, filepath.Join(st.Base(), "fecs", "scu02", "monitor"), "an unmonitored FEC stays so")

	_, err = st.Switch(ctx, "scu01", "Foo_DU", "1.1.0")
	require.NoError(t, err)
	golden(t, "2-switch", generated(t, st)) // the archive's template: a systemd check

	_, err = st.Switch(ctx, "scu01", "Foo_DU", "dev")
	require.NoError(t, err)
	golden(t, "0-start", generated(t, st)) // dev releases are not monitored

	_, err = st.Rollback(ctx, "scu01", "Foo_DU")
	require.NoError(t, err)
	golden(t, "2-switch", generated(t, st))

	results, err := st.SwitchAll(ctx, "Foo_DU", "1.0.0")
	require.NoError(t, err)
	require.Len(t, results, 2)
	golden(t, "1-link", generated(t, st))

	require.NoError(t, st.Unlink(ctx, "scu01", index.KindSoftware, "Foo_DU"))
	golden(t, "0-start", generated(t, st))
	assert.NotContains(t, logs.String(), "monitoring not updated")

	// A hand-written file of the software's name is left alone by releases.
	require.NoError(t, st.AddMonitorService(ctx, "scu01", monitor.Service{Name: "Foo_DU", Kind: monitor.KindProcess, Process: "Foo_DU_M"}))
	require.NoError(t, st.Link(ctx, "scu01", index.KindSoftware, "Foo_DU", "1.1.0"))
	h, ok, err := st.MonitorServices(ctx, "scu01")
	require.NoError(t, err)
	require.True(t, ok)
	require.Len(t, h.Services, 2)
	assert.Equal(t, "Foo_DU_M", h.Services[0].Process)
}

// A bad template in an archive does not stop the release (the link is
// done) but is reported with the archive and the template's line.
func TestMonitorBadTemplateIsReported(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	var logs bytes.Buffer
	st, err := storage.Init(t.TempDir(), storage.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	require.NoError(t, err)
	require.NoError(t, st.AddFEC(ctx, "scu01", storage.FECConfig{Arch: "x86_64"}))
	require.NoError(t, st.SetMonitorGroups(ctx, "scu01", []string{"g"}))
	publishReal(t, st, "Foo_DU", "1.0.0", map[string]string{"etc/fecdeploy-monitor.conf": "check=tcp\nport=http\n"})
	before := generated(t, st)
	require.NoError(t, st.Link(ctx, "scu01", index.KindSoftware, "Foo_DU", "1.0.0"))
	assert.Contains(t, logs.String(), "monitoring not updated")
	assert.Contains(t, logs.String(), "opt/fesa/Foo_DU/1.0.0/etc/fecdeploy-monitor.conf:2: port")
	assert.Equal(t, before, generated(t, st))
}

// A broken service file is refused with file and line before Icinga sees
// anything; every broken file is named.
func TestMonitorHostsRefusesBrokenFiles(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st, err := storage.Init(t.TempDir())
	require.NoError(t, err)
	require.NoError(t, st.AddFEC(ctx, "scu01", storage.FECConfig{Arch: "x86_64"}))
	require.NoError(t, st.AddFEC(ctx, "scu02", storage.FECConfig{Arch: "x86_64"}))
	require.NoError(t, st.SetMonitorGroups(ctx, "scu01", []string{"g"}))
	require.NoError(t, st.SetMonitorGroups(ctx, "scu02", []string{"g"}))
	dir := st.Base()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "fecs/scu01/monitor/web"), []byte("check=http\nurl=http:///\nport=eighty\n"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "fecs/scu02/monitor/monitoring_groups"), []byte("ok\nnot ok\n"), 0o644))
	_, err = st.MonitorHosts(ctx, monitor.ParseOptions{})
	require.ErrorIs(t, err, monitor.ErrInvalid)
	assert.Contains(t, err.Error(), "fecs/scu01/monitor/web:3: port \"eighty\"")
	assert.Contains(t, err.Error(), "fecs/scu02/monitor/monitoring_groups:2: bad host group \"not ok\"")

	// The hand editor refuses the same mistakes and writes nothing.
	snap := testkit.Snapshot(t, dir)
	err = st.AddMonitorService(ctx, "scu01", monitor.Service{Name: "x", Kind: monitor.KindTCP})
	require.ErrorIs(t, err, storage.ErrBadRequest)
	assert.ErrorContains(t, err, "check=tcp needs a port= line")
	require.ErrorIs(t, st.SetMonitorGroups(ctx, "scu01", []string{"a b"}), storage.ErrBadRequest)
	require.ErrorIs(t, st.AddMonitorService(ctx, "nosuch", monitor.Service{Name: "x", Kind: monitor.KindTCP, Port: 1}), storage.ErrUnknownFEC)
	require.ErrorIs(t, st.RemoveMonitorService(ctx, "scu01", "nothere"), storage.ErrNotFound)
	assert.Equal(t, snap, testkit.Snapshot(t, dir))
}

// fecctl verify names broken monitoring files too.
func TestVerifyReportsBadMonitorFiles(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st, err := storage.Init(t.TempDir())
	require.NoError(t, err)
	require.NoError(t, st.AddFEC(ctx, "scu01", storage.FECConfig{Arch: "x86_64"}))
	require.NoError(t, st.AddMonitorService(ctx, "scu01", monitor.Service{Name: "ok", Kind: monitor.KindTCP, Port: 1}))
	r, err := st.Verify(ctx)
	require.NoError(t, err)
	assert.Zero(t, r.Count(storage.ProblemBadMonitor))
	require.NoError(t, os.WriteFile(filepath.Join(st.Base(), "fecs/scu01/monitor/bad"), []byte("check=tcp\n"), 0o644))
	r, err = st.Verify(ctx)
	require.NoError(t, err)
	require.Equal(t, 1, r.Count(storage.ProblemBadMonitor))
	for _, p := range r.Problems {
		if p.Kind == storage.ProblemBadMonitor {
			assert.Equal(t, "fecs/scu01/monitor/bad", p.Path)
			assert.Contains(t, p.Message, "check=tcp needs a port= line")
		}
	}
}
