package monitor_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fair-acc/fecdeploy/monitor"
)

func TestParseServiceKinds(t *testing.T) {
	t.Parallel()
	cases := map[string]monitor.Service{
		"check=process\nprocess=Foo_DU\nsoftware=Foo_DU\nversion=1.2.0\n":   {Kind: monitor.KindProcess, Process: "Foo_DU", Software: "Foo_DU", Version: "1.2.0"},
		"# a unit\ncheck=systemd\nunit=fesa@Foo_DU.service\ninterval=30s\n": {Kind: monitor.KindSystemd, Unit: "fesa@Foo_DU.service", Interval: "30s"},
		"check=tcp\nport=9090\nwarning=1\ncritical=2.5\n":                   {Kind: monitor.KindTCP, Port: 9090, Warning: "1", Critical: "2.5"},
		"check=http\nurl=https://web.example.org/status\nport=8443\n":       {Kind: monitor.KindHTTP, URL: "https://web.example.org/status", Port: 8443},
		"check=http\nurl=http:///health\n":                                  {Kind: monitor.KindHTTP, URL: "http:///health"},
		"check=command\ncommand=ping4\narg.ping_wrta=100\narg.ping_crta=200\n": {Kind: monitor.KindCommand, Command: "ping4",
			Args: map[string]string{"ping_wrta": "100", "ping_crta": "200"}},
	}
	for in, want := range cases {
		got, err := monitor.ParseService("fecs/scu01/monitor/svc", []byte(in), monitor.ParseOptions{})
		require.NoError(t, err, in)
		want.Name = "svc"
		assert.Equal(t, want, got, in)
		// Marshal round-trips.
		again, err := monitor.ParseService("x/svc", got.Marshal(), monitor.ParseOptions{})
		require.NoError(t, err)
		assert.Equal(t, got, again)
	}
}

func TestParseServiceErrorsNameFileAndLine(t *testing.T) {
	t.Parallel()
	cases := []struct{ in, want string }{
		{"check=process\n", "f/Foo: check=process needs a process= line"},
		{"process=x\n", "f/Foo: no check= line"},
		{"check=ftp\n", "f/Foo:1: unknown check \"ftp\""},
		{"# c\ncheck=tcp\nport=99999\n", "f/Foo:3: port \"99999\""},
		{"check=tcp\nport=80\nport=81\n", "f/Foo:3: port given twice (first on line 2)"},
		{"check=tcp\nport=80\nurl=http://x/\n", "f/Foo:3: url does not apply to check=tcp"},
		{"check=tcp\nport=80\ncolour=red\n", "f/Foo:3: unknown key \"colour\""},
		{"check=tcp\nport 80\n", "f/Foo:2: \"port 80\" is not key=value"},
		{"check=tcp\nport= 80\n", "f/Foo:2: value of port has leading or trailing spaces"},
		{"check=tcp\r\nport=80\n", "f/Foo:1: character '\\r'"},
		{"check=process\nprocess=a b\n", "f/Foo:2: bad process name"},
		{"check=command\ncommand=rm\n", "f/Foo:2: command \"rm\" is not on the allowed list"},
		{"check=tcp\nport=80\narg.x=1\n", "f/Foo:3: arg.* applies to check=command only"},
		{"check=command\ncommand=ping4\narg.X=1\n", "f/Foo:3: custom variable \"X\""},
		{"check=tcp\nport=80\nwarning=fast\n", "f/Foo:3: warning \"fast\""},
		{"check=tcp\nport=80\ninterval=5 min\n", "f/Foo:3: interval \"5 min\""},
		{"check=http\nurl=ftp://x/\n", "f/Foo:2: url \"ftp://x/\": want an http"},
		{"check=http\nurl=http://u:p@x/\n", "f/Foo:2: url \"http://u:p@x/\": no credentials"},
		{"check=http\nurl=http://x:81/\n", "give the port with port="},
		{"check=systemd\nunit=a;reboot\n", "f/Foo:2: unit \"a;reboot\""},
		{"check=process\nprocess=x\nsoftware=../x\n", "f/Foo:3: bad software name"},
	}
	for _, c := range cases {
		_, err := monitor.ParseService("f/Foo", []byte(c.in), monitor.ParseOptions{})
		require.Error(t, err, c.in)
		assert.ErrorIs(t, err, monitor.ErrInvalid)
		var se *monitor.SyntaxError
		require.True(t, errors.As(err, &se))
		assert.Contains(t, err.Error(), c.want, c.in)
	}
	_, err := monitor.ParseService("f/.hidden", []byte("check=tcp\nport=1\n"), monitor.ParseOptions{})
	assert.ErrorContains(t, err, "f/.hidden: bad service name")
	_, err = monitor.ParseService("f/monitoring_groups", []byte("check=tcp\nport=1\n"), monitor.ParseOptions{})
	assert.ErrorContains(t, err, "host groups file")
}

func TestParseGroups(t *testing.T) {
	t.Parallel()
	g, err := monitor.ParseGroups("g", []byte("# groups\nsis18\n\nring-a\n"))
	require.NoError(t, err)
	assert.Equal(t, []string{"ring-a", "sis18"}, g)
	again, err := monitor.ParseGroups("g", monitor.MarshalGroups(g))
	require.NoError(t, err)
	assert.Equal(t, g, again)
	_, err = monitor.ParseGroups("fecs/a/monitor/monitoring_groups", []byte("a\nb c\n"))
	assert.ErrorContains(t, err, "fecs/a/monitor/monitoring_groups:2: bad host group \"b c\"")
	_, err = monitor.ParseGroups("g", []byte("a\na\n"))
	assert.ErrorContains(t, err, "g:2: host group a given twice (first on line 1)")
}

func TestFromTemplate(t *testing.T) {
	t.Parallel()
	svc, ok, err := monitor.FromTemplate("t", nil, "scu01", "Foo_DU", "1.2.0", monitor.ParseOptions{})
	require.NoError(t, err)
	require.True(t, ok)
	assert.Equal(t, monitor.Service{Name: "Foo_DU", Kind: monitor.KindProcess, Process: "Foo_DU", Software: "Foo_DU", Version: "1.2.0"}, svc)
	_, ok, err = monitor.FromTemplate("t", nil, "scu01", "libfoo", "1.0.0", monitor.ParseOptions{})
	require.NoError(t, err)
	assert.False(t, ok, "no template, not a FESA class: not monitored")

	tmpl := []byte("check=systemd\nunit=${software}-${version}.service\n")
	svc, ok, err = monitor.FromTemplate("t", tmpl, "scu01", "Bar", "2.0.0", monitor.ParseOptions{})
	require.NoError(t, err)
	require.True(t, ok)
	assert.Equal(t, "Bar-2.0.0.service", svc.Unit)
	assert.Equal(t, "Bar", svc.Name)
	assert.Equal(t, "Bar", svc.Software)

	_, _, err = monitor.FromTemplate("opt/x/fecdeploy-monitor.conf", []byte("check=systemd\n\nunit=${name}\n"), "scu01", "Bar", "2.0.0", monitor.ParseOptions{})
	assert.ErrorContains(t, err, "opt/x/fecdeploy-monitor.conf:3: unknown placeholder ${name}")
}

// Every character a name may have gives a valid Icinga object name that
// maps back to the same name (icinga2 accepts them: TestIcingaAcceptsAllNames).
func TestObjectNameRoundTrip(t *testing.T) {
	t.Parallel()
	for _, n := range allCharNames() {
		o, err := monitor.ObjectName(n)
		require.NoError(t, err)
		assert.Equal(t, n, o)
	}
	_, err := monitor.ObjectName("a!b")
	assert.ErrorIs(t, err, monitor.ErrInvalid)
}

// allCharNames are names that together use every allowed character.
func allCharNames() []string {
	var chars strings.Builder
	for c := 'a'; c <= 'z'; c++ {
		chars.WriteRune(c)
	}
	for c := 'A'; c <= 'Z'; c++ {
		chars.WriteRune(c)
	}
	for c := '0'; c <= '9'; c++ {
		chars.WriteRune(c)
	}
	all := chars.String()
	return []string{"a" + all + "._-", "0.-_" + all[:20], "Z-_." + all[40:], fmt.Sprintf("x%s", strings.Repeat("-._", 30))}
}
