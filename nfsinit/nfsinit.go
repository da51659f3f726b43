// Package nfsinit brings an NFS-init export (DIR/<FEC>/ holding the FEC's
// boot scripts, symlinks to shared scripts, software trees or tarballs)
// into a web storage: Scan reads the export into a Plan (a pure description
// of what would be done and of what could not be mapped), Plan.WriteTable
// prints it, Apply carries it out. `fecctl import-nfsinit DIR` is the
// command; docs/operations.md ("Migration from NFS-init") describes the
// mapping.
package nfsinit

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/fair-acc/fecdeploy/index"
	"github.com/fair-acc/fecdeploy/publish"
	"github.com/fair-acc/fecdeploy/storage"
	"github.com/fair-acc/fecdeploy/version"
)

// Options tune Scan.
type Options struct {
	// Arch of every FEC created. Default x86_64.
	Arch string
	// Shared are the top-level directories of the export that hold shared
	// scripts rather than a FEC. Default {"global", "common", "shared", "scripts"}.
	Shared []string
	// Prefix is the unpack location of imported software, with {name} and
	// {version} replaced. Default "opt/fesa/{name}/{version}".
	Prefix string
}

// Action kinds of a Step.
const (
	AddFEC     = "add-fec"     // create the FEC
	AddGlobal  = "add-global"  // a shared script into fecs/global/
	LinkInit   = "link-init"   // init/<name> -> ../../global/<name>
	PutInit    = "put-init"    // the FEC's own script into init/<name>
	Software   = "software"    // pack a tree or tarball as name/version, link it
	Unmapped   = "unmapped"    // left alone: not a script, no version, bad name...
	BrokenLink = "broken-link" // a symlink whose target does not exist
)

// Step is one thing the import does (or could not do).
type Step struct {
	FEC     string `json:"fec,omitempty"` // "" for global steps
	Action  string `json:"action"`
	Name    string `json:"name"`              // script, software or file name in the storage
	Version string `json:"version,omitempty"` // software
	Source  string `json:"source"`            // path in the export, relative to DIR
	Detail  string `json:"detail,omitempty"`
}

// Plan is the whole import.
type Plan struct {
	Dir   string `json:"dir"`
	Arch  string `json:"arch"`
	Steps []Step `json:"steps"`
}

// Counts returns how many steps of each action the plan has.
func (p *Plan) Counts() map[string]int {
	m := map[string]int{}
	for _, s := range p.Steps {
		m[s.Action]++
	}
	return m
}

var (
	// name-1.2.3, name_1.2.3, name-v1.2.3 (+ optional -pre/+build)
	versioned = regexp.MustCompile(`^(.+?)[-_]v?(\d+\.\d+\.\d+(?:[-+][0-9A-Za-z.+-]*)?)$`)
	semverDir = regexp.MustCompile(`^v?\d+\.\d+\.\d+(?:[-+][0-9A-Za-z.+-]*)?$`)
	archExt   = []string{".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tar.xz", ".txz", ".tar.zst", ".tzst", ".tar", ".zip", ".7z"}
)

// safeName turns a file name into one the storage accepts: every character
// outside the safe set becomes '_'. ok is false when it had to change.
func safeName(what, s string) (string, bool) {
	if index.CheckName(what, s) == nil {
		return s, true
	}
	b := []byte(s)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			b[i] = '_'
		}
	}
	out := strings.TrimLeft(string(b), "._-")
	if out == "" {
		out = "script"
	}
	return out, false
}

// Scan reads the export and plans the import. It writes nothing.
func Scan(dir string, opts Options) (*Plan, error) {
	if opts.Arch == "" {
		opts.Arch = "x86_64"
	}
	if len(opts.Shared) == 0 {
		opts.Shared = []string{"global", "common", "shared", "scripts"}
	}
	if opts.Prefix == "" {
		opts.Prefix = "opt/fesa/{name}/{version}"
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	des, err := os.ReadDir(abs)
	if err != nil {
		return nil, fmt.Errorf("nfsinit: reading the export: %w", err)
	}
	p := &Plan{Dir: abs, Arch: opts.Arch}
	globals := map[string]string{} // global name -> content, once added
	globalSrc := map[string]string{}
	for _, de := range des {
		name := de.Name()
		if strings.HasPrefix(name, ".") {
			continue
		}
		shared := false
		for _, s := range opts.Shared {
			shared = shared || s == name
		}
		if shared {
			continue // read through the FECs' links
		}
		if !de.IsDir() {
			p.Steps = append(p.Steps, Step{Action: Unmapped, Name: name, Source: name, Detail: "not a FEC directory"})
			continue
		}
		if err := index.CheckFECName(name); err != nil {
			p.Steps = append(p.Steps, Step{Action: Unmapped, Name: name, Source: name, Detail: "not a valid FEC name: " + err.Error()})
			continue
		}
		p.Steps = append(p.Steps, Step{FEC: name, Action: AddFEC, Name: name, Source: name, Detail: "arch=" + opts.Arch})
		if err := p.scanFEC(abs, name, opts, globals, globalSrc); err != nil {
			return nil, err
		}
	}
	return p, nil
}

func (p *Plan) scanFEC(base, fec string, opts Options, globals, globalSrc map[string]string) error {
	dir := filepath.Join(base, fec)
	des, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("nfsinit: reading %s: %w", dir, err)
	}
	for _, de := range des {
		file := de.Name()
		src := filepath.Join(fec, file)
		full := filepath.Join(dir, file)
		add := func(s Step) {
			s.FEC, s.Source = fec, src
			p.Steps = append(p.Steps, s)
		}
		lfi, err := os.Lstat(full)
		if err != nil {
			return err
		}
		isLink := lfi.Mode()&os.ModeSymlink != 0
		fi, err := os.Stat(full)
		if err != nil {
			target, _ := os.Readlink(full)
			add(Step{Action: BrokenLink, Name: file, Detail: "-> " + target + " (target missing); not imported, fix or delete it in the export"})
			continue
		}
		if sw, ver, ok := softwareName(file, fi.IsDir()); ok {
			if _, err := version.Parse(ver); err == nil && index.CheckName("software", sw) == nil {
				add(Step{Action: Software, Name: sw, Version: ver, Detail: "-> " + prefixFor(opts.Prefix, sw, ver)})
				continue
			}
		}
		if fi.IsDir() {
			// <name>/<version>/ trees
			vs, _ := os.ReadDir(full)
			var found bool
			for _, v := range vs {
				if v.IsDir() && semverDir.MatchString(v.Name()) && index.CheckName("software", file) == nil {
					found = true
					add(Step{Action: Software, Name: file, Version: v.Name(), Source: src, Detail: "-> " + prefixFor(opts.Prefix, file, v.Name())})
					p.Steps[len(p.Steps)-1].Source = filepath.Join(src, v.Name())
				}
			}
			if !found {
				add(Step{Action: Unmapped, Name: file, Detail: "directory without a version in its name (name-1.2.3) or version subdirectories; pack it with fec-pack"})
			}
			continue
		}
		if !fi.Mode().IsRegular() {
			add(Step{Action: Unmapped, Name: file, Detail: "not a regular file"})
			continue
		}
		if !isScript(full, fi) {
			add(Step{Action: Unmapped, Name: file, Detail: "neither executable nor starting with #!; not an init script"})
			continue
		}
		name, same := safeName("init script", file)
		detail := ""
		if !same {
			detail = fmt.Sprintf("renamed from %q (unsafe characters)", file)
		}
		if !isLink {
			add(Step{Action: PutInit, Name: name, Detail: join(detail, "the FEC's own script")})
			continue
		}
		content, err := os.ReadFile(full)
		if err != nil {
			return err
		}
		target, _ := filepath.EvalSymlinks(full)
		rel, rerr := filepath.Rel(base, target)
		if rerr != nil || !filepath.IsLocal(rel) {
			rel = target
		}
		if prev, ok := globals[name]; ok && prev != string(content) {
			add(Step{Action: PutInit, Name: name, Detail: join(detail, fmt.Sprintf("link to %s, which differs from the shared %s (from %s): copied into the FEC's folder", rel, name, globalSrc[name]))})
			continue
		}
		if _, ok := globals[name]; !ok {
			globals[name] = string(content)
			globalSrc[name] = rel
			p.Steps = append(p.Steps, Step{Action: AddGlobal, Name: name, Source: rel})
		}
		add(Step{Action: LinkInit, Name: name, Detail: join(detail, "-> global/"+name+" (from "+rel+")")})
	}
	return nil
}

func join(a, b string) string {
	if a == "" {
		return b
	}
	return a + "; " + b
}

func prefixFor(tmpl, name, ver string) string {
	return strings.NewReplacer("{name}", name, "{version}", ver).Replace(tmpl)
}

// softwareName splits "Foo_DU-1.2.0[.tar.gz]" into name and version.
func softwareName(file string, isDir bool) (string, string, bool) {
	stem := file
	if !isDir {
		ok := false
		for _, e := range archExt {
			if s, found := strings.CutSuffix(file, e); found {
				stem, ok = s, true
				break
			}
		}
		if !ok {
			return "", "", false
		}
	}
	m := versioned.FindStringSubmatch(stem)
	if m == nil {
		return "", "", false
	}
	return m[1], strings.TrimPrefix(m[2], "v"), true
}

func isScript(p string, fi os.FileInfo) bool {
	if fi.Mode()&0o111 != 0 {
		return true
	}
	f, err := os.Open(p)
	if err != nil {
		return false
	}
	defer f.Close()
	head := make([]byte, 2)
	n, _ := io.ReadFull(f, head)
	return n == 2 && string(head) == "#!"
}

// WriteTable prints the plan as a table, then a count per action.
func (p *Plan) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "FEC\tACTION\tNAME\tVERSION\tSOURCE\tDETAIL")
	for _, s := range p.Steps {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", dashIf(s.FEC), s.Action, s.Name, dashIf(s.Version), s.Source, s.Detail)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	c := p.Counts()
	keys := make([]string, 0, len(c))
	for k := range c {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%d %s", c[k], k))
	}
	_, err := fmt.Fprintf(w, "%s\n", strings.Join(parts, ", "))
	return err
}

func dashIf(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// ApplyOptions tune Apply.
type ApplyOptions struct {
	// Prefix as in Options (the plan's steps carry it in Detail only).
	Prefix string
	// Progress, when set, is told each step as it is done.
	Progress func(Step, error)
}

// Apply carries out the plan on the storage. FECs that exist already are
// kept (their arch is not changed); a shared script of the same name with
// other content is refused (ErrExists). Errors of single steps are
// collected; Apply goes on with the others and returns them joined.
func Apply(ctx context.Context, st *storage.Storage, p *Plan, opts ApplyOptions) error {
	if opts.Prefix == "" {
		opts.Prefix = "opt/fesa/{name}/{version}"
	}
	var errs []error
	report := func(s Step, err error) {
		if opts.Progress != nil {
			opts.Progress(s, err)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%s %s %s (%s): %w", s.FEC, s.Action, s.Name, s.Source, err))
		}
	}
	// FECs first, then shared scripts, then what each FEC gets.
	failed := map[string]bool{}
	for _, s := range p.Steps {
		if s.Action != AddFEC {
			continue
		}
		err := st.AddFEC(ctx, s.FEC, storage.FECConfig{Arch: p.Arch})
		if errors.Is(err, storage.ErrExists) {
			err = nil
		}
		failed[s.FEC] = err != nil
		report(s, err)
	}
	for _, s := range p.Steps {
		if s.Action != AddGlobal {
			continue
		}
		f, err := os.Open(filepath.Join(p.Dir, s.Source))
		if filepath.IsAbs(s.Source) {
			f, err = os.Open(s.Source)
		}
		if err == nil {
			err = st.AddGlobalScript(ctx, s.Name, f)
			f.Close()
		}
		report(s, err)
	}
	for _, s := range p.Steps {
		if s.FEC == "" || failed[s.FEC] {
			continue
		}
		var err error
		switch s.Action {
		case LinkInit:
			err = st.LinkInit(ctx, s.FEC, s.Name)
		case PutInit:
			var f *os.File
			if f, err = os.Open(filepath.Join(p.Dir, s.Source)); err == nil {
				err = st.PutFile(ctx, s.FEC, index.KindInit, s.Name, f)
				f.Close()
			}
		case Software:
			_, err = publish.Release(ctx, st, publish.Request{
				Name: s.Name, Version: s.Version, Arch: p.Arch, SourceDir: filepath.Join(p.Dir, s.Source),
				Prefix: prefixFor(opts.Prefix, s.Name, s.Version), Link: []string{s.FEC},
			})
		default:
			continue
		}
		report(s, err)
	}
	return errors.Join(errs...)
}
