package examples

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fair-acc/fecdeploy/internal/testenv"
	"github.com/fair-acc/fecdeploy/internal/testkit"
	"github.com/fair-acc/fecdeploy/monitor"
	"github.com/fair-acc/fecdeploy/storage"
)

// The shipped include line, pointed at a generated set, makes a
// configuration icinga2 accepts; the units call fecctl icinga with the
// -check option and the link log the path unit watches.
func TestIcingaExample(t *testing.T) {
	t.Parallel()
	bin := testenv.RequireTool(t, "icinga2", "/usr/sbin/icinga2")
	out := filepath.Join(t.TempDir(), "icinga")
	hosts := []monitor.Host{{Name: "scu01", Groups: []string{"sis18"}, Services: []monitor.Service{
		{Name: "Foo_DU", Kind: monitor.KindProcess, Process: "Foo_DU"},
		{Name: "rda3", Kind: monitor.KindTCP, Port: 9000},
	}}}
	_, err := monitor.Generate(context.Background(), hosts, out,
		monitor.RenderOptions{Domain: ".acc.example.org", BootStatus: "http://{fec}.acc.example.org/fecdeploy/status.json"}, monitor.SetOptions{})
	require.NoError(t, err)

	include := testkit.ReadFile(t, "icinga/icinga2-fecdeploy.conf")
	require.Contains(t, include, `"/var/lib/fecdeploy/icinga/current"`)
	include = strings.ReplaceAll(include, "/var/lib/fecdeploy/icinga", out)
	work := t.TempDir()
	top := "const PluginDir = \"/usr/lib/nagios/plugins\"\nconst NodeName = \"icinga-master\"\nconst ZoneName = \"master\"\n" +
		"include <itl>\ninclude <plugins>\n" + include
	conf := filepath.Join(work, "icinga2.conf")
	require.NoError(t, os.WriteFile(conf, []byte(top), 0o644))
	cache := filepath.Join(work, "cache")
	require.NoError(t, os.Mkdir(cache, 0o700))
	res, err := exec.Command(bin, monitor.CheckArgs(conf, cache)...).CombinedOutput()
	require.NoError(t, err, string(res))

	svc := testkit.ReadFile(t, "icinga/fecdeploy-icinga.service")
	assert.Contains(t, svc, "fecctl icinga -storage /srv/web-storage -out /var/lib/fecdeploy/icinga -check")
	assert.Contains(t, testkit.ReadFile(t, "icinga/fecdeploy-icinga.path"), "PathChanged=/srv/web-storage/"+storage.LinkLogName)
	assert.Contains(t, testkit.ReadFile(t, "icinga/fecdeploy-icinga.timer"), "Unit=fecdeploy-icinga.service")
}
