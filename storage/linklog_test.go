package storage

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestLinkLogCompaction(t *testing.T) {
	t.Parallel()
	s := newTestStorage(t)
	old := time.Now().Add(-30 * 24 * time.Hour)
	require.NoError(t, s.logLinkChanges([]linkChange{
		{t: old, fec: "fec01", software: "A", fromVersion: "1.0.0", toVer: "1.1.0"},
		{t: time.Now(), fec: "fec01", software: "A", fromVersion: "1.1.0", toVer: ""},
	}))
	// A malformed line is skipped, never fatal.
	f, err := os.OpenFile(filepath.Join(s.Base(), LinkLogName), os.O_APPEND|os.O_WRONLY, 0)
	require.NoError(t, err)
	_, _ = f.WriteString("garbage\n")
	f.Close()
	require.NoError(t, s.compactLinkLog(time.Now(), 7*24*time.Hour))
	log, err := s.readLinkLog()
	require.NoError(t, err)
	assert.False(t, len(log) != 1 || log[0].fromVersion != "1.1.0" || log[0].toVer != "", "after compaction: %+v", log)
	assert.False(t, errors.Is(err, os.ErrNotExist), "log vanished")
}
