package index

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestFreshnessHeader(t *testing.T) {
	t.Parallel()
	in := "fecdeploy-index 1 fec=fec01 arch=x86_64 zz=1 expires=1800000000 serial=1764676800000000000\n" +
		"init a " + hashA + " 1 fecs/global/a\n"
	ix, err := ParseBytes([]byte(in))
	require.NoError(t, err)
	assert.Equal(t, uint64(1764676800000000000), ix.Serial)
	assert.Equal(t, time.Unix(1800000000, 0).UTC(), ix.Expires)
	assert.Equal(t, map[string]string{"zz": "1"}, ix.Attrs, "serial and expires are fields, not attributes")
	out, err := ix.Marshal()
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(string(out),
		"fecdeploy-index 1 fec=fec01 arch=x86_64 serial=1764676800000000000 expires=1800000000 zz=1\n"), "%s", out)

	// Without them the header is what it always was (unsigned sites).
	ix.Serial, ix.Expires = 0, time.Time{}
	out, err = ix.Marshal()
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(string(out), "fecdeploy-index 1 fec=fec01 arch=x86_64 zz=1\n"), "%s", out)
}

func TestFreshnessHeaderRefused(t *testing.T) {
	t.Parallel()
	for _, kv := range []string{
		"serial=", "serial=0", "serial=007", "serial=-1", "serial=+1", "serial=1x", "serial=12345678901234567890",
		"expires=", "expires=0", "expires=01", "expires=1.5", "expires=9999999999999999999",
	} {
		t.Run(kv, func(t *testing.T) {
			t.Parallel()
			ix, err := ParseBytes([]byte("fecdeploy-index 1 fec=f arch=a " + kv + "\n"))
			require.ErrorIs(t, err, ErrFormat)
			assert.Nil(t, ix)
		})
	}
}

func TestNextSerial(t *testing.T) {
	t.Parallel()
	now := time.Unix(1764676800, 5)
	assert.Equal(t, uint64(1764676800000000005), NextSerial(now))
	assert.Equal(t, uint64(1764676800000000005), NextSerial(now, 7, 1764676800000000004))
	// A clock set back (or a restored storage) never lowers the serial.
	assert.Equal(t, uint64(1900000000000000001), NextSerial(now, 1900000000000000000, 3))
	assert.Equal(t, uint64(1), NextSerial(time.Unix(-5, 0)))
}

func TestCheckFresh(t *testing.T) {
	t.Parallel()
	now := time.Unix(1764676800, 0)
	ix := &Index{Serial: 100, Expires: now.Add(time.Hour)}
	require.NoError(t, CheckFresh(ix, 0, now, true))
	require.NoError(t, CheckFresh(ix, 100, now, true), "the same INDEX again is no replay")
	require.NoError(t, CheckFresh(ix, 99, now, true))

	err := CheckFresh(ix, 101, now, true)
	require.ErrorIs(t, err, ErrReplay)
	assert.Contains(t, err.Error(), "serial 100, this FEC already accepted serial 101")

	err = CheckFresh(ix, 0, now.Add(time.Hour), true)
	require.ErrorIs(t, err, ErrExpired)
	assert.Contains(t, err.Error(), "expired at 2025-12-02T13:00:00Z")

	// An insane clock (before the client's build date) cannot judge expiry;
	// the serial rule still holds.
	require.NoError(t, CheckFresh(ix, 100, now.Add(1000*time.Hour), false))
	require.ErrorIs(t, CheckFresh(ix, 101, now.Add(1000*time.Hour), false), ErrReplay)

	// No serial: accepted only while the FEC never saw one.
	require.NoError(t, CheckFresh(&Index{}, 0, now, true))
	require.ErrorIs(t, CheckFresh(&Index{}, 5, now, true), ErrReplay)
}
