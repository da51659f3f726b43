package index

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestInstanceMismatches(t *testing.T) {
	t.Parallel()
	sw := func(n, v string) Entry { return Entry{Kind: KindSoftware, Name: n, Version: v} }
	cf := func(n, v string) Entry { return Entry{Kind: KindConfiguration, Name: n, Version: v} }
	assert.Empty(t, InstanceMismatches([]Entry{sw("BeamPos_DU", "2.0.0"), cf("BeamPos_DU-instance", "2.0.0"), cf("timing", "1.0.0")}))
	got := InstanceMismatches([]Entry{sw("BeamPos_DU", "2.0.0"), cf("BeamPos_DU-instance", "2.1.0"), cf("Orphan_DU-instance", "1.0.0")})
	assert.Equal(t, []InstanceMismatch{
		{Software: "BeamPos_DU", SoftwareVersion: "2.0.0", Instance: "BeamPos_DU-instance", InstanceVersion: "2.1.0"},
		{Software: "Orphan_DU", Instance: "Orphan_DU-instance", InstanceVersion: "1.0.0"},
	}, got)
	assert.Contains(t, got[0].String(), "configuration BeamPos_DU-instance is at 2.1.0 but software BeamPos_DU at 2.0.0")
	assert.Contains(t, got[1].String(), "linked without software Orphan_DU")
	_, ok := SoftwareOfInstance("-instance")
	assert.False(t, ok)
}
