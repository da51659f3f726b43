package depcheck

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func moduleRoot(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("go", "env", "GOMOD").Output()
	require.NoError(t, err)
	return filepath.Dir(strings.TrimSpace(string(out)))
}

// TestProjectGraph: the real import graph keeps every rule.
func TestProjectGraph(t *testing.T) {
	t.Parallel()
	g, err := Load(context.Background(), moduleRoot(t))
	require.NoError(t, err)
	require.Contains(t, g, Module+"/storage", "go list found the project")
	for _, v := range Check(g) {
		assert.Fail(t, "dependency rule broken", v.String())
	}
}

// TestArchitectureDocListsEveryPackage: docs/architecture.md's package
// table names exactly the packages go list finds, each in its layer.
func TestArchitectureDocListsEveryPackage(t *testing.T) {
	t.Parallel()
	root := moduleRoot(t)
	g, err := Load(context.Background(), root)
	require.NoError(t, err)
	doc, err := os.ReadFile(filepath.Join(root, "docs", "architecture.md"))
	require.NoError(t, err)
	// The section "## Packages" holds the table: | `path` | layer | job |
	_, section, ok := strings.Cut(string(doc), "\n## Packages\n")
	require.True(t, ok, "docs/architecture.md has no section \"## Packages\"")
	section, _, _ = strings.Cut(section, "\n## ")
	row := regexp.MustCompile("(?m)^\\| `([a-z0-9/._-]+)` +\\| ([^|]+)\\|")
	inDoc := map[string]string{}
	for _, m := range row.FindAllStringSubmatch(section, -1) {
		inDoc[m[1]] = strings.TrimSpace(m[2])
	}
	var listed []string
	for path := range g {
		rel, _ := relative(path)
		listed = append(listed, rel)
		layer, ok := LayerOf(rel)
		require.True(t, ok, rel)
		want := map[int]string{TestKit: "test kit", Tool: "tool"}[layer]
		if want == "" {
			want = string(rune('0' + layer))
		}
		got, ok := inDoc[rel]
		if assert.True(t, ok, "docs/architecture.md's package table lacks %s", rel) {
			assert.Equal(t, want, got, "layer of %s in docs/architecture.md", rel)
		}
	}
	sort.Strings(listed)
	for rel := range inDoc {
		_, found := sort.Find(len(listed), func(i int) int { return strings.Compare(rel, listed[i]) })
		assert.True(t, found, "docs/architecture.md lists %s, which go list does not find", rel)
	}
}

// TestRulesFail: each rule reports a synthetic graph that breaks it, so
// the check above cannot pass vacuously.
func TestRulesFail(t *testing.T) {
	t.Parallel()
	m := func(rel string) string { return Module + "/" + rel }
	for _, tc := range []struct {
		name string
		pkg  Package
		want string // a part of the violation
	}{
		{"archive imports storage", Package{ImportPath: m("archive"), Imports: []string{m("index"), m("storage")}},
			"archive imports storage: layer 1 may import only from lower layers"},
		{"archive imports a leaf helper outside its list", Package{ImportPath: m("archive"), Imports: []string{m("internal/durable")}},
			"archive imports only index, internal/verify"},
		{"index imports another project package", Package{ImportPath: m("index"), Imports: []string{m("internal/verify")}},
			"index imports internal/verify: layer 0 may import only from lower layers"},
		{"index reads files", Package{ImportPath: m("index"), Imports: []string{"os"}}, "index does no I/O"},
		{"version reads files", Package{ImportPath: m("version"), Imports: []string{"io/fs"}}, "version does no I/O"},
		{"version opens a socket", Package{ImportPath: m("version"), Imports: []string{"net/http"}}, "version does no I/O"},
		{"storage imports publish", Package{ImportPath: m("storage"), Imports: []string{m("publish")}}, "layer 2 may import only from lower layers"},
		{"version imports storage", Package{ImportPath: m("version"), Imports: []string{m("storage")}}, "layer 1 may import only"},
		{"fec imports storage", Package{ImportPath: m("fec"), Imports: []string{m("storage")}}, "fec imports storage: layer 2"},
		{"fec depends on storage", Package{ImportPath: m("fec"), Deps: []string{m("internal/x"), m("storage")}},
			"fec must never depend on storage"},
		{"publish imports internal/cli", Package{ImportPath: m("publish"), Imports: []string{m("internal/cli")}},
			"layer 3 may import only from lower layers, internal/cli is layer 4"},
		{"a library imports a command", Package{ImportPath: m("storage"), Imports: []string{m("cmd/fecctl")}}, "nothing imports a command"},
		{"a tool imports a command", Package{ImportPath: m("bench/x"), Imports: []string{m("cmd/fec-pack")}}, "nothing imports a command"},
		{"fec-boot pulls in mholt/archives", Package{ImportPath: m("cmd/fec-boot"), Deps: []string{"github.com/mholt/archives"}},
			"cmd/fec-boot must never depend on github.com/mholt/archives"},
		{"fec-boot pulls in storage", Package{ImportPath: m("cmd/fec-boot"), Deps: []string{m("storage")}},
			"cmd/fec-boot must never depend on storage"},
		{"a library imports a test kit", Package{ImportPath: m("storage"), Imports: []string{m("internal/testkit")}},
			"test kits are imported only by tests"},
		{"a library imports a tool", Package{ImportPath: m("storage"), Imports: []string{m("bench/internal/benchkit")}},
			"tools are imported only by tools"},
		{"a package without a layer", Package{ImportPath: m("releaseservice")}, "releaseservice imports -: package has no layer"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			vs := Check(Graph{tc.pkg.ImportPath: tc.pkg})
			var got []string
			for _, v := range vs {
				got = append(got, v.String())
			}
			require.NotEmpty(t, got, "the rule did not fire")
			assert.Contains(t, strings.Join(got, "\n"), tc.want)
		})
	}
	// And the allowed shapes pass.
	ok := Graph{
		m("archive"):      {ImportPath: m("archive"), Imports: []string{m("index"), m("internal/verify"), "os", "github.com/klauspost/compress/zstd"}},
		m("storage"):      {ImportPath: m("storage"), Imports: []string{m("index"), m("version"), m("internal/durable"), "os"}},
		m("cmd/fecctl"):   {ImportPath: m("cmd/fecctl"), Imports: []string{m("internal/cli"), m("storage"), m("internal/serve")}},
		m("bench/x"):      {ImportPath: m("bench/x"), Imports: []string{m("internal/testenv"), m("archive")}},
		m("internal/cli"): {ImportPath: m("internal/cli"), Imports: []string{m("storage")}},
		"example.com/y":   {ImportPath: "example.com/y", Imports: []string{m("cmd/fecctl")}},
	}
	assert.Empty(t, Check(ok))
}

func TestLayerOf(t *testing.T) {
	t.Parallel()
	for rel, want := range map[string]int{"cmd/fecctl": 6, "internal/demo": 5, "bench/internal/benchkit": Tool, "examples/yocto": Tool, "client/clienttest": TestKit, "client": 2} {
		got, ok := LayerOf(rel)
		assert.True(t, ok, rel)
		assert.Equal(t, want, got, rel)
	}
	_, ok := LayerOf("cmdx")
	assert.False(t, ok, "cmd/... does not match cmdx")
}
