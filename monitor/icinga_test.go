package monitor_test

import (
	"context"
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fair-acc/fecdeploy/internal/testenv"
	"github.com/fair-acc/fecdeploy/internal/testkit"
	"github.com/fair-acc/fecdeploy/monitor"
)

func icinga2(t *testing.T) string {
	return testenv.RequireTool(t, "icinga2", "/usr/sbin/icinga2")
}

// fleet is n FECs in a few groups with every kind of check.
func fleet(n int) []monitor.Host {
	var hosts []monitor.Host
	for i := range n {
		h := monitor.Host{Name: fmt.Sprintf("fec%03d", i), Groups: []string{"all-fecs", fmt.Sprintf("ring%d", i%4)}}
		if i%3 == 0 {
			h.Address = fmt.Sprintf("10.1.%d.%d", i/250, i%250+1)
		}
		h.Services = []monitor.Service{
			{Name: "Foo_DU", Kind: monitor.KindProcess, Process: "Foo_DU", Software: "Foo_DU", Version: "1.2.0"},
			{Name: "fesa-unit", Kind: monitor.KindSystemd, Unit: "fesa@Bar_DU.service", Interval: "5m"},
			{Name: "rda3", Kind: monitor.KindTCP, Port: 9000 + i, Warning: "1", Critical: "2.5"},
			{Name: "web", Kind: monitor.KindHTTP, URL: "https:///status", Port: 8443, Warning: "2"},
			{Name: "web-ext", Kind: monitor.KindHTTP, URL: "http://web.example.org/a%20b"},
			{Name: "ping", Kind: monitor.KindCommand, Command: "ping4", Args: map[string]string{"ping_wrta": "100", "ping_crta": "200"}},
		}
		hosts = append(hosts, h)
	}
	return hosts
}

var renderOpts = monitor.RenderOptions{Domain: ".acc.example.org", SSHUser: "icinga", BootStatus: "http://{fec}.acc.example.org/fecdeploy/status.json"}

func TestIcingaAccepts50FECs(t *testing.T) {
	t.Parallel()
	bin := icinga2(t)
	hosts := fleet(50)
	files, err := monitor.Render(hosts, renderOpts)
	require.NoError(t, err)

	// Deterministic: the same hosts in another order give the same bytes.
	shuffled := append([]monitor.Host(nil), hosts...)
	rand.New(rand.NewSource(1)).Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
	again, err := monitor.Render(shuffled, renderOpts)
	require.NoError(t, err)
	assert.Equal(t, files, again)

	dir := t.TempDir()
	res, err := monitor.WriteSet(context.Background(), dir, files, monitor.SetOptions{Check: true, Icinga2: bin})
	require.NoError(t, err, res.CheckLog)
	assert.True(t, res.Changed)
	cur, err := os.Readlink(filepath.Join(dir, monitor.CurrentLink))
	require.NoError(t, err)
	assert.Equal(t, filepath.Join(monitor.SetsDir, monitor.SetID(files)), cur)
	for _, f := range files {
		assert.Equal(t, string(f.Data), testkit.ReadFile(t, filepath.Join(dir, monitor.CurrentLink, f.Name)))
	}
	// Icinga loaded every object.
	got := loaded(t, bin, res.Dir)
	assert.Len(t, got["Host"], 50)
	assert.Len(t, got["HostGroup"], 5)
	assert.Len(t, got["Service"], 50*7) // 6 each + fec-boot
	assert.Contains(t, got["Service"], "fec007!fec-boot")

	// The same set again: nothing to do.
	res, err = monitor.WriteSet(context.Background(), dir, files, monitor.SetOptions{Check: true, Icinga2: bin})
	require.NoError(t, err)
	assert.False(t, res.Changed)
}

// A set Icinga rejects (a command on our allowed list that Icinga does not
// know: what a bad template value looks like to Icinga) is removed, and the
// previous set stays current, byte for byte; no reload happens.
func TestIcingaRejectedSetKeepsPrevious(t *testing.T) {
	t.Parallel()
	bin := icinga2(t)
	ctx := context.Background()
	dir := t.TempDir()
	good, err := monitor.Render(fleet(3), renderOpts)
	require.NoError(t, err)
	marker := filepath.Join(t.TempDir(), "reloaded")
	reload := []string{"touch", marker}
	_, err = monitor.WriteSet(ctx, dir, good, monitor.SetOptions{Check: true, Icinga2: bin, Reload: reload})
	require.NoError(t, err)
	require.FileExists(t, marker)
	require.NoError(t, os.Remove(marker))
	before := testkit.Snapshot(t, dir)

	opts := monitor.ParseOptions{Commands: append([]string{"no_such_check"}, monitor.Commands...)}
	svc, ok, err := monitor.FromTemplate("Bad/fecdeploy-monitor.conf", []byte("check=command\ncommand=no_such_check\n"), "fec000", "Bad", "1.0.0", opts)
	require.NoError(t, err, "our validation accepts it (the command is allowed here)")
	require.True(t, ok)
	hosts := fleet(3)
	hosts[0].Services = append(hosts[0].Services, svc)
	bad, err := monitor.Render(hosts, renderOpts)
	require.NoError(t, err)
	res, err := monitor.WriteSet(ctx, dir, bad, monitor.SetOptions{Check: true, Icinga2: bin, Reload: reload})
	require.ErrorIs(t, err, monitor.ErrRejected)
	assert.Contains(t, err.Error(), "no_such_check")
	assert.NotEmpty(t, res.Discarded)
	assert.NoDirExists(t, res.Discarded)
	assert.Equal(t, before, testkit.Snapshot(t, dir), "the previous set stays, nothing else is left")
	assert.NoFileExists(t, marker, "no reload after a rejected set")
}

// Names using every allowed character come back from Icinga unchanged:
// icinga2 daemon -C writes the objects it loaded, icinga2 object list
// prints them.
func TestIcingaAcceptsAllNames(t *testing.T) {
	t.Parallel()
	bin := icinga2(t)
	names := allCharNames()
	var hosts []monitor.Host
	for _, n := range names {
		h := monitor.Host{Name: n, Address: "127.0.0.1", Groups: names}
		for _, s := range names {
			h.Services = append(h.Services, monitor.Service{Name: s, Kind: monitor.KindProcess, Process: s, Software: s, Version: s})
		}
		hosts = append(hosts, h)
	}
	files, err := monitor.Render(hosts, monitor.RenderOptions{})
	require.NoError(t, err)
	dir := t.TempDir()
	res, err := monitor.WriteSet(context.Background(), dir, files, monitor.SetOptions{})
	require.NoError(t, err)

	got := loaded(t, bin, res.Dir)
	var wantServices []string
	for _, h := range names {
		for _, s := range names {
			wantServices = append(wantServices, h+"!"+s)
		}
	}
	for _, xs := range [][]string{names, wantServices, got["Host"], got["HostGroup"], got["Service"]} {
		sort.Strings(xs)
	}
	assert.Equal(t, names, got["Host"])
	assert.Equal(t, names, got["HostGroup"])
	assert.Equal(t, wantServices, got["Service"])
}

// loaded validates the set in setDir with icinga2 and returns the names of
// the objects icinga2 loaded, by type (icinga2 object list).
func loaded(t *testing.T, bin, setDir string) map[string][]string {
	t.Helper()
	work := t.TempDir()
	conf := filepath.Join(work, "icinga2.conf")
	require.NoError(t, os.WriteFile(conf, monitor.CheckConf(setDir, nil), 0o644))
	cache := filepath.Join(work, "cache")
	require.NoError(t, os.Mkdir(cache, 0o700))
	out, err := exec.Command(bin, monitor.CheckArgs(conf, cache)...).CombinedOutput()
	require.NoError(t, err, string(out))
	args := []string{"object", "list", "-DConfiguration.CacheDir=" + cache}
	if os.Geteuid() == 0 {
		args = append(args, "-DRunAsUser=root", "-DRunAsGroup=root")
	}
	out, err = exec.Command(bin, args...).CombinedOutput()
	require.NoError(t, err, string(out))
	got := map[string][]string{}
	for _, l := range strings.Split(string(out), "\n") {
		// Object 'name' of type 'Host':
		if rest, ok := strings.CutPrefix(l, "Object '"); ok {
			name, typ, _ := strings.Cut(rest, "' of type '")
			typ = strings.TrimSuffix(typ, "':")
			got[typ] = append(got[typ], name)
		}
	}
	return got
}

// A command on a site's allowed list that the site defines itself passes
// the check when its definition is included, and only then.
func TestIcingaCheckIncludes(t *testing.T) {
	t.Parallel()
	bin := icinga2(t)
	ctx := context.Background()
	site := filepath.Join(t.TempDir(), "site-commands.conf")
	require.NoError(t, os.WriteFile(site, []byte("object CheckCommand \"site_check\" {\n\tcommand = [ \"/bin/true\" ]\n}\n"), 0o644))
	svc, err := monitor.ParseService("x/custom", []byte("check=command\ncommand=site_check\n"), monitor.ParseOptions{Commands: []string{"site_check"}})
	require.NoError(t, err)
	files, err := monitor.Render([]monitor.Host{{Name: "scu01", Services: []monitor.Service{svc}}}, monitor.RenderOptions{})
	require.NoError(t, err)
	_, err = monitor.WriteSet(ctx, t.TempDir(), files, monitor.SetOptions{Check: true, Icinga2: bin})
	require.ErrorIs(t, err, monitor.ErrRejected)
	_, err = monitor.WriteSet(ctx, t.TempDir(), files, monitor.SetOptions{Check: true, Icinga2: bin, CheckIncludes: []string{site}})
	require.NoError(t, err)
}
