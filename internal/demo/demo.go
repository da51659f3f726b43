// Package demo is `fecctl demo`: it builds a small web storage the way the
// build tools would (fec-pack's library call), serves it with the built-in
// server, prints what each FEC fetches and where it unpacks, and boots a
// simulated FEC into a temp root with the Go client (and the busybox FEC with
// fec-boot.sh when busybox is installed).
package demo

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/fair-acc/fecdeploy/archive"
	"github.com/fair-acc/fecdeploy/client"
	"github.com/fair-acc/fecdeploy/fec"
	"github.com/fair-acc/fecdeploy/index"
	bb "github.com/fair-acc/fecdeploy/internal/busybox"
	"github.com/fair-acc/fecdeploy/internal/cli"
	"github.com/fair-acc/fecdeploy/internal/serve"
	"github.com/fair-acc/fecdeploy/publish"
	"github.com/fair-acc/fecdeploy/storage"
)

// Options tune Run.
type Options struct {
	Dir    string // where to build; "" = a temp directory removed at the end
	Serve  bool   // keep serving after the boots until ctx ends
	Listen string // address of the built-in server; default 127.0.0.1:0
	// Busybox is the busybox binary for booting the PowerPC FEC with
	// fec-boot.sh; "" = look it up on PATH; "-" = do not boot it.
	Busybox string
}

// The demo's FECs: an x86_64 SCU running the Go client and a PowerPC board
// running the busybox client (no zstd decoder).
const (
	fecSCU = "scu01"
	fecPPC = "ppc01"
)

// release is one fec-pack call of the demo.
type release struct {
	kind    index.Kind
	name    string
	version string
	arch    string
	format  index.Format
	prefix  string
	files   func(dir string) error
	link    []string
}

func releases() []release {
	bpm := func(v string) func(string) error {
		return func(dir string) error { return softwareTree(dir, "BeamPosition_DU", v) }
	}
	return []release{
		{index.KindSoftware, "BeamPosition_DU", "1.0.0", "x86_64", index.FormatZstd, "opt/fesa/BeamPosition_DU/1.0.0", bpm("1.0.0"), nil},
		{index.KindSoftware, "BeamPosition_DU", "1.1.0", "x86_64", index.FormatZstd, "opt/fesa/BeamPosition_DU/1.1.0", bpm("1.1.0"), []string{fecSCU}},
		{index.KindSoftware, "BeamPosition_DU", "1.1.0", "ppc", index.FormatGzip, "opt/fesa/BeamPosition_DU/1.1.0", bpm("1.1.0"), []string{fecPPC}},
		{index.KindSoftware, "timing-lib", "2.4.1", "noarch", index.FormatGzip, "opt/devacc/timing-lib/2.4.1",
			func(dir string) error { return libTree(dir, "timing", 40) }, []string{fecSCU, fecPPC}},
		{index.KindSoftware, "RFTuner_DU", "dev", "x86_64", index.FormatZstd, "opt/fesa/RFTuner_DU/dev",
			func(dir string) error { return softwareTree(dir, "RFTuner_DU", "dev") }, []string{fecSCU}},
		{index.KindConfiguration, "BeamPosition_DU-instance", "1.1.0", "", index.FormatGzip, "opt/fesa/BeamPosition_DU/1.1.0/instance",
			func(dir string) error { return instanceTree(dir, "BeamPosition_DU", 12) }, []string{fecSCU, fecPPC}},
	}
}

// Run builds, serves, shows and boots. Output goes to out.
func Run(ctx context.Context, opts Options, out io.Writer) error {
	start := time.Now()
	dir := opts.Dir
	if dir == "" {
		tmp, err := os.MkdirTemp("", "fecdeploy-demo-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		dir = tmp
	}
	if opts.Listen == "" {
		opts.Listen = "127.0.0.1:0"
	}
	base := filepath.Join(dir, "web-storage")
	st, err := build(ctx, base, filepath.Join(dir, "build"))
	if err != nil {
		return fmt.Errorf("demo: building the storage: %w", err)
	}
	fmt.Fprintf(out, "== web storage built in %s: %s\n\n", time.Since(start).Round(time.Millisecond), base)

	srv, err := serve.Start(ctx, opts.Listen, base, nil)
	if err != nil {
		return err
	}
	defer srv.Close()
	fmt.Fprintf(out, "== served read-only by the built-in server at %s\n\n", srv.URL)

	prefixes := map[string]string{}
	for _, r := range releases() {
		prefixes[string(r.kind)+"/"+r.name] = r.prefix
	}
	for _, name := range []string{fecSCU, fecPPC} {
		if err := show(ctx, out, st, name, prefixes); err != nil {
			return err
		}
	}

	// Boot the x86_64 FEC with the Go client into a simulated root.
	root := filepath.Join(dir, "fec-"+fecSCU)
	fmt.Fprintf(out, "== booting %s with fec-boot (Go) into %s\n", fecSCU, root)
	cfg := fec.Config{
		BaseURL: srv.URL, FEC: fecSCU, Root: root,
		Deadline: time.Minute, ScriptTimeout: 20 * time.Second, RetryWaitMin: 100 * time.Millisecond, RetryWaitMax: time.Second,
		ScriptOutput: prefixWriter{out, "   "},
		Logger:       slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	status, err := fec.Boot(ctx, cfg)
	if status != nil {
		_ = status.WriteSummary(prefixWriter{out, "   "})
	}
	if err != nil {
		return fmt.Errorf("demo: booting %s: %w", fecSCU, err)
	}
	fmt.Fprintf(out, "   files on the FEC:\n")
	if err := tree(prefixWriter{out, "     "}, root, "opt"); err != nil {
		return err
	}
	cfg.ScriptOutput = io.Discard
	status, err = fec.Boot(ctx, cfg)
	if err != nil {
		return fmt.Errorf("demo: second boot of %s: %w", fecSCU, err)
	}
	inst, skipped, _ := status.Counts()
	fmt.Fprintf(out, "   second boot: %d installed, %d skipped (unchanged) in %d ms\n\n", inst, skipped, status.DurationMS)

	if err := bootShell(ctx, out, opts.Busybox, srv.URL, filepath.Join(dir, "fec-"+fecPPC)); err != nil {
		return err
	}

	fmt.Fprintf(out, "== done in %s\n", time.Since(start).Round(time.Millisecond))
	if opts.Serve {
		fmt.Fprintf(out, "serving %s at %s until Ctrl-C; try: curl %s/fecs/%s/INDEX\n", base, srv.URL, srv.URL, fecSCU)
		<-ctx.Done()
	}
	return nil
}

// build lays out the demo storage through the same library calls the tools use.
func build(ctx context.Context, base, work string) (*storage.Storage, error) {
	st, err := storage.Init(base)
	if err != nil {
		return nil, err
	}
	if err := st.AddFEC(ctx, fecSCU, storage.FECConfig{Arch: "x86_64"}); err != nil {
		return nil, err
	}
	if err := st.AddFEC(ctx, fecPPC, storage.FECConfig{Arch: "ppc", Decoders: []string{"gzip", "xz"}}); err != nil {
		return nil, err
	}
	for i, r := range releases() {
		src := filepath.Join(work, fmt.Sprintf("%d-%s-%s-%s", i, r.name, r.version, r.arch))
		if err := r.files(src); err != nil {
			return nil, err
		}
		_, err := publish.Release(ctx, st, publish.Request{
			Kind: r.kind, Name: r.name, Version: r.version, Arch: r.arch, Format: r.format,
			SourceDir: src, Prefix: r.prefix, Link: r.link, Prune: true,
		})
		if err != nil {
			return nil, fmt.Errorf("releasing %s %s (%s): %w", r.name, r.version, r.arch, err)
		}
	}
	// A FEC-specific configuration archive, packed in memory.
	netDir := filepath.Join(work, "scu01-network")
	if err := writeFiles(netDir, map[string]string{"network.conf": "timing_master=tm01\nvlan=42\n"}); err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if _, err := archive.Pack(ctx, &buf, netDir, archive.PackOptions{Format: index.FormatGzip, Prefix: "opt/local/etc"}); err != nil {
		return nil, err
	}
	if err := st.PutFile(ctx, fecSCU, index.KindConfiguration, "scu01-network.tar.gz", &buf); err != nil {
		return nil, err
	}
	// Shared init scripts, linked from both FECs.
	for name, body := range map[string]string{"10-environment": envScript, "50-start-daemons": startScript} {
		if err := st.AddGlobalScript(ctx, name, strings.NewReader(body)); err != nil {
			return nil, err
		}
		for _, f := range []string{fecSCU, fecPPC} {
			if err := st.LinkInit(ctx, f, name); err != nil {
				return nil, err
			}
		}
	}
	return st, nil
}

const envScript = `#!/bin/sh
echo "FEC $FECDEPLOY_FEC booted from $FECDEPLOY_URL"
echo "software: $FECDEPLOY_SOFTWARE"
`

// The seed: a FEC running a dev release does not start it as a daemon.
const startScript = `#!/bin/sh
for sw in $FECDEPLOY_SOFTWARE; do
	case " $FECDEPLOY_DEV_SOFTWARE " in
	*" $sw "*) echo "$sw is a dev release: not started as a daemon" ;;
	*) echo "starting $sw as a daemon (simulated)" ;;
	esac
done
`

func show(ctx context.Context, out io.Writer, st *storage.Storage, name string, prefixes map[string]string) error {
	info, err := st.FEC(ctx, name)
	if err != nil {
		return err
	}
	if info.IndexError != nil {
		return info.IndexError
	}
	fmt.Fprintf(out, "== %s (arch %s, decoders %s) fetches fecs/%s/INDEX:\n", name, info.Config.Arch, strings.Join(info.Config.Decoders, ","), name)
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "   KIND\tNAME\tVERSION\tFORMAT\tSIZE\tUNPACKS TO / RUNS")
	for _, e := range info.Entries {
		where := "/" + prefixes[string(e.Kind)+"/"+e.Name]
		switch {
		case e.Kind == index.KindInit:
			where = "init script, run in name order"
		case where == "/":
			where = "(FEC-specific archive) /opt/local/etc"
		}
		v := e.Version
		if e.Dev && v != "dev" {
			v += " (dev)"
		}
		fmt.Fprintf(tw, "   %s\t%s\t%s\t%s\t%s\t%s\n", e.Kind, e.Name, v, e.Format, cli.HumanBytes(e.Size), where)
	}
	tw.Flush()
	fmt.Fprintln(out)
	return nil
}

// bootShell boots the PowerPC FEC with fec-boot.sh under busybox, when busybox
// is there (the demo does not require it).
func bootShell(ctx context.Context, out io.Writer, busybox, url, root string) error {
	if busybox == "-" {
		return nil
	}
	if busybox == "" {
		p, err := exec.LookPath("busybox")
		if err != nil {
			fmt.Fprintf(out, "== %s (PowerPC) would boot with fec-boot.sh; install busybox to see it here\n\n", fecPPC)
			return nil
		}
		busybox = p
	}
	script := filepath.Join(root, "fec-boot.sh")
	if err := os.MkdirAll(root, 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(script, client.Script, 0o755); err != nil {
		return err
	}
	fmt.Fprintf(out, "== booting %s with fec-boot.sh (busybox sh) into %s\n", fecPPC, root)
	t0 := time.Now()
	// Only busybox applets on PATH, as on the PowerPC image.
	applets := filepath.Join(root, "..", "busybox-applets-"+fecPPC)
	if err := bb.LinkApplets(busybox, applets); err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, busybox, "sh", script, "--root", root, "--url", url, "--fec", fecPPC, "--start-jitter", "0")
	cmd.Env = []string{"PATH=" + applets}
	pw := prefixWriter{out, "   "}
	cmd.Stdout, cmd.Stderr = pw, pw
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("demo: fec-boot.sh on %s: %w", fecPPC, err)
	}
	fmt.Fprintf(out, "   booted in %s; files on the FEC:\n", time.Since(t0).Round(time.Millisecond))
	if err := tree(prefixWriter{out, "     "}, root, "opt"); err != nil {
		return err
	}
	fmt.Fprintln(out)
	return nil
}

// tree prints the directories two levels above the files below root/sub.
func tree(out io.Writer, root, sub string) error {
	seen := map[string]int{}
	err := filepath.WalkDir(filepath.Join(root, sub), func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			rel, _ := filepath.Rel(root, filepath.Dir(p))
			seen["/"+rel]++
		}
		return nil
	})
	if err != nil {
		return err
	}
	dirs := make([]string, 0, len(seen))
	for d := range seen {
		dirs = append(dirs, d)
	}
	sort.Strings(dirs)
	for _, d := range dirs {
		fmt.Fprintf(out, "%s/ (%d files)\n", d, seen[d])
	}
	return nil
}

type prefixWriter struct {
	w      io.Writer
	prefix string
}

func (p prefixWriter) Write(b []byte) (int, error) {
	lines := strings.SplitAfter(string(b), "\n")
	var sb strings.Builder
	for _, l := range lines {
		if l != "" {
			sb.WriteString(p.prefix + l)
		}
	}
	if _, err := io.WriteString(p.w, sb.String()); err != nil {
		return 0, err
	}
	return len(b), nil
}
