package monitor_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/fair-acc/fecdeploy/monitor"
)

// Whatever the parser accepts, Marshal writes back as a file that parses
// to the same service, and Render accepts it.
func FuzzParseService(f *testing.F) {
	for _, s := range []string{
		"check=process\nprocess=Foo_DU\nsoftware=Foo_DU\nversion=1.2.0\n",
		"check=systemd\nunit=fesa@Foo_DU.service\ninterval=30s\n",
		"check=tcp\nport=9090\nwarning=1\ncritical=2.5\n",
		"check=http\nurl=https://web.example.org/a%20b\"$x\nport=8443\n",
		"check=command\ncommand=ping4\narg.ping_wrta=10\"0$\\\n",
		"# c\n\ncheck=tcp\nport=1\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		svc, err := monitor.ParseService("fecs/x/monitor/svc", data, monitor.ParseOptions{})
		if err != nil {
			require.ErrorIs(t, err, monitor.ErrInvalid)
			return
		}
		again, err := monitor.ParseService("fecs/x/monitor/svc", svc.Marshal(), monitor.ParseOptions{})
		require.NoError(t, err)
		require.Equal(t, svc, again)
		_, err = monitor.Render([]monitor.Host{{Name: "x", Services: []monitor.Service{svc}}}, monitor.RenderOptions{})
		require.NoError(t, err)
	})
}
