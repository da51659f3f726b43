package version_test

import (
	"fmt"
	"os"
	"time"

	"github.com/fair-acc/fecdeploy/version"
)

func ExampleParse() {
	for _, s := range []string{"1.2.3", "dev", "v1.2.3", "01.2.3", "1.2.3+build5"} {
		v, err := version.Parse(s)
		if err != nil {
			fmt.Println(err)
			continue
		}
		fmt.Println(v, "dev:", v.IsDev())
	}
	// Output:
	// 1.2.3 dev: false
	// dev dev: true
	// bad version "v1.2.3": drop the leading 'v' → 1.2.3
	// bad version "01.2.3": numbers may not have leading zeros → 1.2.3
	// bad version "1.2.3+build5": build metadata ('+…') is not allowed ('+' is not a storage name character and semver ignores it when ordering); drop it, or release the rebuild under a new patch version → 1.2.3
}

func ExampleNewPlan() {
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	p := version.NewPlan(version.PlanInput{
		Now: now,
		Software: []version.SoftwareInput{{
			Name: "Foo_DU",
			Versions: []version.VersionInput{
				{Name: "1.0.0", LinkedBy: []string{"fec07"}},
				{Name: "1.1.0"},
				{Name: "1.2.0", Unlinked: now.Add(-2 * time.Hour)},
				{Name: "1.3.0"},
				{Name: "1.4.0"},
				{Name: "1.5.0", LinkedBy: []string{"fec01", "fec02"}},
				{Name: "dev"},
			},
		}},
	})
	_ = p.WriteText(os.Stdout, true)
	// Output:
	// keep   Foo_DU dev: dev release: never removed automatically (see fec-prune -prune-dev)
	// keep   Foo_DU 1.5.0: linked by fec01, fec02
	// keep   Foo_DU 1.4.0: 2nd newest productive version (keeping 3)
	// keep   Foo_DU 1.3.0: 3rd newest productive version (keeping 3)
	// keep   Foo_DU 1.2.0: unlinked 2h ago, inside the 24h grace period
	// remove Foo_DU 1.1.0: 5th newest productive version, not linked (keeping 3)
	// keep   Foo_DU 1.0.0: linked by fec07
	// warning: Foo_DU: 5 productive versions kept, more than 3, because FECs still link older ones: 1.0.0; switch those FECs to a newer version (fecctl who-uses Foo_DU VERSION) to let them go
	// 1 software, 6 versions kept, 1 to remove (keep 3 newest productive, grace 24h)
}
