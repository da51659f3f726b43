package index

import (
	"fmt"
	"sort"
	"strings"
)

// InstanceSuffix names a FESA deploy unit's instance configuration: the
// configuration "<DU>-instance" published at version V holds the instance
// files of software "<DU>" version V (yocto-fesa3 publishes both). An
// instance file belongs to one binary version, so a FEC must get the
// instance configuration at the version of the software it runs.
const InstanceSuffix = "-instance"

// InstanceOf returns the instance configuration name of a software.
func InstanceOf(software string) string { return software + InstanceSuffix }

// SoftwareOfInstance returns the software an instance configuration belongs
// to, and whether name is one.
func SoftwareOfInstance(name string) (string, bool) {
	sw, ok := strings.CutSuffix(name, InstanceSuffix)
	return sw, ok && sw != ""
}

// InstanceMismatch is an instance configuration that does not follow its binary.
type InstanceMismatch struct {
	Software        string `json:"software"`
	SoftwareVersion string `json:"software_version,omitempty"` // "" when the software is not linked
	Instance        string `json:"instance"`
	InstanceVersion string `json:"instance_version"`
}

func (m InstanceMismatch) String() string {
	if m.SoftwareVersion == "" {
		return fmt.Sprintf("configuration %s %s is linked without software %s", m.Instance, m.InstanceVersion, m.Software)
	}
	return fmt.Sprintf("configuration %s is at %s but software %s at %s: the instance files do not belong to the binary",
		m.Instance, m.InstanceVersion, m.Software, m.SoftwareVersion)
}

// InstanceMismatches lists the instance configurations among entries whose
// software is missing or at another version, sorted by software name.
func InstanceMismatches(entries []Entry) []InstanceMismatch {
	sw := map[string]string{}
	for _, e := range entries {
		if e.Kind == KindSoftware {
			sw[e.Name] = e.Version
		}
	}
	var out []InstanceMismatch
	for _, e := range entries {
		if e.Kind != KindConfiguration {
			continue
		}
		name, ok := SoftwareOfInstance(e.Name)
		if !ok {
			continue
		}
		v, linked := sw[name]
		if linked && v == e.Version {
			continue
		}
		out = append(out, InstanceMismatch{Software: name, SoftwareVersion: v, Instance: e.Name, InstanceVersion: e.Version})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Software < out[j].Software })
	return out
}
