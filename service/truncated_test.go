package service_test

import (
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fair-acc/fecdeploy/service"
)

// TestTruncatedUpload sends half an archive, then closes the connection:
// nothing is published, the refusal is recorded.
func TestTruncatedUpload(t *testing.T) {
	t.Parallel()
	e := newEnv(t, sqliteDSN(t), service.Options{}, "fec01")
	before := snap(t, e.dir)
	data := archive(t, "Foo_DU", "1.0.0")
	conn, err := net.Dial("tcp", strings.TrimPrefix(e.url, "http://"))
	require.NoError(t, err)
	fmt.Fprintf(conn, "PUT /api/v1/publish/software/Foo_DU/1.0.0?arch=x86_64&link=fec01&sha256=%s HTTP/1.1\r\nHost: fecd\r\n"+
		"Authorization: Bearer %s\r\nContent-Length: %d\r\n\r\n", sum(data), e.token, len(data))
	_, err = conn.Write(data[:len(data)/2])
	require.NoError(t, err)
	require.NoError(t, conn.(*net.TCPConn).CloseWrite())
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 4096)
	n, _ := conn.Read(buf)
	conn.Close()
	assert.Contains(t, string(buf[:n]), "400 Bad Request")
	require.Eventually(t, func() bool {
		for _, a := range e.audits(t) {
			if a.Action == "publish" && !a.OK {
				return true
			}
		}
		return false
	}, 10*time.Second, 20*time.Millisecond)
	assert.Equal(t, before, snap(t, e.dir), "the storage changed")
}
