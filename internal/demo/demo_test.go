package demo

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fair-acc/fecdeploy/internal/testenv"
)

func TestDemo(t *testing.T) {
	bb, _ := testenv.BusyboxPath(t)
	dir := t.TempDir()
	var out bytes.Buffer
	if err := Run(context.Background(), Options{Dir: dir, Busybox: bb}, &out); err != nil {
		t.Fatalf("demo: %v\n%s", err, out.String())
	}
	s := out.String()
	for _, want := range []string{
		"ppc01 (arch ppc, decoders gzip,xz)",
		"[50-start-daemons] RFTuner_DU is a dev release: not started as a daemon",
		"[50-start-daemons] starting BeamPosition_DU as a daemon",
		"second boot: 0 installed, 5 skipped",
		"booting ppc01 with fec-boot.sh",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("output lacks %q:\n%s", want, s)
		}
	}
	// Both simulated FECs got the software at its unpack location.
	for _, p := range []string{
		"fec-scu01/opt/fesa/BeamPosition_DU/1.1.0/bin/BeamPosition_DU",
		"fec-scu01/opt/fesa/RFTuner_DU/dev/bin/RFTuner_DU",
		"fec-scu01/opt/local/etc/network.conf",
		"fec-ppc01/opt/fesa/BeamPosition_DU/1.1.0/instance/BeamPosition_DEV00.instance",
		"fec-ppc01/opt/devacc/timing-lib/2.4.1/lib/libtiming0.so.1",
	} {
		if _, err := os.Stat(filepath.Join(dir, p)); err != nil {
			t.Errorf("missing on the simulated FEC: %v", err)
		}
	}
	// The ppc FEC never gets the x86_64 build or the zstd-only dev release.
	if _, err := os.Stat(filepath.Join(dir, "fec-ppc01/opt/fesa/RFTuner_DU")); !os.IsNotExist(err) {
		t.Errorf("ppc01 got RFTuner_DU: %v", err)
	}
}

// A demo directory that already holds a storage is refused, not overwritten.
func TestDemoRefusesExistingStorage(t *testing.T) {
	dir := t.TempDir()
	if err := Run(context.Background(), Options{Dir: dir, Busybox: "-"}, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(filepath.Join(dir, "web-storage/fecs/scu01/INDEX"))
	err := Run(context.Background(), Options{Dir: dir, Busybox: "-"}, &bytes.Buffer{})
	if err == nil {
		t.Fatal("second demo into the same directory succeeded")
	}
	after, _ := os.ReadFile(filepath.Join(dir, "web-storage/fecs/scu01/INDEX"))
	if !bytes.Equal(before, after) {
		t.Fatal("INDEX changed")
	}
}
