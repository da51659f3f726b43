// Package depcheck holds the project's layering rules as data and checks an
// import graph against them; its test runs the check on the real graph
// (go list) so that a forbidden import fails CI. docs/architecture.md draws
// the same layers.
//
// The layers, bottom-up (a package imports only from layers below its own):
//
//	0  protocol and leaf helpers  index, internal/verify, internal/durable,
//	                              internal/serve, internal/busybox, internal/nginxconf,
//	                              internal/progress
//	1  formats and rules          archive, version, monitor
//	2  storage and clients        storage, fec, client
//	3  writer services            publish, persist, service, monitor/bootcheck
//	4  command plumbing           internal/cli
//	5  command bodies             internal/demo
//	6  commands                   cmd/...
//
// Beside the layers: test kits (internal/testkit, internal/testenv,
// internal/testenv/faultproxy, client/clienttest), imported only by tests,
// other test kits and tools; and tools (bench/..., examples/...,
// conformance, internal/depcheck), imported only by other tools. On top of
// the layers: archive imports only index and internal/verify; index and
// version do no I/O; fec and the fec-boot binary never depend on storage or
// publish, nor on decoders for formats the protocol does not know.
package depcheck

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"slices"
	"sort"
	"strings"
)

// Module is the project's module path.
const Module = "github.com/fair-acc/fecdeploy"

// Package is one node of the import graph (non-test code only).
type Package struct {
	ImportPath string
	Imports    []string // direct imports
	Deps       []string // every package it depends on, transitively
}

// Graph maps import paths to packages.
type Graph map[string]Package

// Load lists the packages matching patterns (default ./...) in the module
// at dir with go list.
func Load(ctx context.Context, dir string, patterns ...string) (Graph, error) {
	if len(patterns) == 0 {
		patterns = []string{"./..."}
	}
	args := append([]string{"list", "-json=ImportPath,Imports,Deps"}, patterns...)
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("depcheck: go list in %s: %w: %s", dir, err, stderr.Bytes())
	}
	g := Graph{}
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p Package
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return nil, fmt.Errorf("depcheck: reading go list output: %w", err)
		}
		g[p.ImportPath] = p
	}
	return g, nil
}

// Test kits and tools stand beside the layers.
const (
	TestKit = 100 // imported only by tests, test kits and tools
	Tool    = 200 // imported only by tools
)

// Layers assigns each project package (relative to Module; "x/..." means x
// and everything below it) its layer. A package may import project
// packages of lower layers only. The most specific pattern wins. Add a new
// package here and to docs/architecture.md.
var Layers = map[string]int{
	"index":              0,
	"internal/verify":    0,
	"internal/durable":   0,
	"internal/serve":     0,
	"internal/busybox":   0,
	"internal/nginxconf": 0,
	"internal/progress":  0,
	"archive":            1,
	"version":            1,
	"monitor":            1,
	"storage":            2,
	"fec":                2,
	"client":             2,
	"publish":            3,
	"persist":            3,
	"service":            3,
	"monitor/bootcheck":  3,
	"nfsinit":            4,
	"internal/cli":       4,
	"internal/demo":      5,
	"cmd/...":            6,

	"internal/testkit":            TestKit,
	"internal/testenv":            TestKit,
	"internal/testenv/faultproxy": TestKit,
	"client/clienttest":           TestKit,

	"bench/...":         Tool,
	"examples/...":      Tool,
	"conformance":       Tool,
	"internal/depcheck": Tool,
}

// OnlyImports narrows what some packages may import from the project.
var OnlyImports = map[string][]string{
	// archive ends up on every FEC: the protocol, and the streaming
	// size-and-digest check (a stdlib-only leaf) at most.
	"archive": {"index", "internal/verify"},
	// version is pure rules over version strings.
	"version": {"index"},
}

// NoIO lists the packages that do no I/O: they import none of the
// standard packages in IOPackages (directly; their project imports are
// held to the same rule by OnlyImports and the layers).
var NoIO = []string{"index", "version"}

// IOPackages are the standard packages that reach files, processes or the
// network ("x/..." means x and below).
var IOPackages = []string{"os", "os/...", "net", "net/...", "io/fs", "io/ioutil", "syscall", "path/filepath", "log", "log/...", "embed", "plugin"}

// NeverDependsOn lists, per package, what may not appear among its
// transitive dependencies: project packages (relative) or any import path
// containing the given text (external modules).
var NeverDependsOn = map[string][]string{
	"fec": {"storage", "publish"},
	// fec-boot runs on FECs: no writer code, no decoders for formats the
	// protocol does not know (mholt/archives registers zip, rar, 7z,
	// brotli, lz4, ... in its init: +4.6 MB of binary).
	"cmd/fec-boot": {"storage", "publish", "github.com/mholt/archives", "rardecode", "sevenzip", "brotli", "lz4", "STARRY-S/zip"},
}

// Violation is one broken rule.
type Violation struct {
	Package string // relative to Module
	Import  string // the offending import or dependency
	Rule    string
}

func (v Violation) String() string {
	return fmt.Sprintf("%s imports %s: %s", v.Package, v.Import, v.Rule)
}

// Check returns every violation of the rules in g, sorted. Packages outside
// Module are ignored; a project package without a layer is a violation.
func Check(g Graph) []Violation {
	var out []Violation
	add := func(pkg, imp, rule string, args ...any) {
		out = append(out, Violation{Package: pkg, Import: imp, Rule: fmt.Sprintf(rule, args...)})
	}
	for path, p := range g {
		rel, ok := relative(path)
		if !ok {
			continue
		}
		layer, ok := LayerOf(rel)
		if !ok {
			add(rel, "-", "package has no layer: add it to depcheck.Layers and docs/architecture.md")
			continue
		}
		for _, imp := range p.Imports {
			irel, ok := relative(imp)
			if !ok {
				if slices.Contains(NoIO, rel) && matchAny(IOPackages, imp) {
					add(rel, imp, "%s does no I/O", rel)
				}
				continue
			}
			il, ok := LayerOf(irel)
			switch {
			case irel == "cmd" || strings.HasPrefix(irel, "cmd/"):
				add(rel, irel, "nothing imports a command")
			case !ok:
				add(rel, irel, "the imported package has no layer")
			case il == Tool && layer != Tool:
				add(rel, irel, "tools are imported only by tools")
			case il == TestKit && layer < TestKit:
				add(rel, irel, "test kits are imported only by tests, test kits and tools")
			case layer < TestKit && il >= layer:
				add(rel, irel, "layer %d may import only from lower layers, %s is layer %d", layer, irel, il)
			}
			if only, ok := OnlyImports[rel]; ok && !slices.Contains(only, irel) {
				add(rel, irel, "%s imports only %s from the project", rel, strings.Join(only, ", "))
			}
		}
		for _, bad := range NeverDependsOn[rel] {
			for _, d := range p.Deps {
				drel, isProject := relative(d)
				if (isProject && drel == bad) || (!isProject && strings.Contains(d, bad)) {
					add(rel, d, "%s must never depend on %s", rel, bad)
				}
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].String() < out[j].String() })
	return out
}

// LayerOf returns the layer of a project package (relative path), from the
// most specific pattern in Layers.
func LayerOf(rel string) (int, bool) {
	if l, ok := Layers[rel]; ok {
		return l, true
	}
	best, layer := -1, 0
	for pat, l := range Layers {
		base, ok := strings.CutSuffix(pat, "/...")
		if ok && (rel == base || strings.HasPrefix(rel, base+"/")) && len(base) > best {
			best, layer = len(base), l
		}
	}
	return layer, best >= 0
}

func relative(path string) (string, bool) {
	if path == Module {
		return ".", true
	}
	rel, ok := strings.CutPrefix(path, Module+"/")
	return rel, ok
}

func matchAny(patterns []string, path string) bool {
	for _, pat := range patterns {
		if base, ok := strings.CutSuffix(pat, "/..."); ok {
			if strings.HasPrefix(path, base+"/") {
				return true
			}
		} else if path == pat {
			return true
		}
	}
	return false
}
