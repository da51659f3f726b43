package bootcheck_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/fair-acc/fecdeploy/fec"
	"github.com/fair-acc/fecdeploy/monitor/bootcheck"
)

func TestEvaluate(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 2, 12, 0, 0, 0, time.UTC)
	ok := fec.Status{FEC: "scu01", IndexSHA256: "aa", Finished: now.Add(-time.Hour), DurationMS: 1500,
		Entries: []fec.EntryStatus{{Kind: "software", Name: "Foo_DU", Action: fec.ActionSkipped}},
		Scripts: []fec.ScriptStatus{{Name: "10-x", Action: fec.ActionRan}}}
	r := bootcheck.Evaluate(&ok, bootcheck.Options{IndexSHA256: "AA", MaxAge: 2 * time.Hour, Now: now})
	assert.Equal(t, bootcheck.OK, r.State)
	assert.Equal(t, "installed=0 skipped=1 failed=0;;1;0 scripts_failed=0;;1;0 duration=1.500s age=3600s;7200;;0", r.Perfdata)

	r = bootcheck.Evaluate(&ok, bootcheck.Options{MaxAge: 30 * time.Minute, Now: now})
	assert.Equal(t, bootcheck.Warning, r.State)
	assert.Contains(t, r.String(), "FEC-BOOT WARNING - FEC scu01: 0 installed, 1 up to date, 0 failed, 1 scripts, 0 failed; the status is 1h0m0s old")

	dry := ok
	dry.DryRun = true
	assert.Equal(t, bootcheck.Warning, bootcheck.Evaluate(&dry, bootcheck.Options{Now: now}).State)

	bad := ok
	bad.ExitCode, bad.Error = 4, "verification failed"
	r = bootcheck.Evaluate(&bad, bootcheck.Options{IndexSHA256: "bb", Now: now})
	assert.Equal(t, bootcheck.Critical, r.State, "critical wins over behind")
	assert.Len(t, r.Details, 2)
}
