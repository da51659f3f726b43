package yocto

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fair-acc/fecdeploy/internal/testkit"
)

// oeRelease is what a recipe meets in one oe-core release. The figures were read
// from the oe-core release branches (meta/recipes-devtools/go/go_*.bb,
// meta/conf/bitbake.conf, meta/classes-global/{base,insane}.bbclass,
// meta/recipes-core/init-ifupdown/init-ifupdown_1.0.bb); README.md says how.
type oeRelease struct {
	name, version string
	goVersion     string // oe-core's go recipe on the release branch
	unpackDir     bool   // UNPACKDIR exists: file:// sources land there, not in WORKDIR
	gitDest       string // default destsuffix of a git:// source
	moveToWorkdir bool   // do_unpack moves ${UNPACKDIR}/<dir> to ${WORKDIR}/<dir> when S names ${WORKDIR}/<dir>
	noWorkdirInS  bool   // insane.bbclass refuses a literal ${WORKDIR} in S
	networking    int    // networking's start number in rc2-5 (init-ifupdown)
	classes       []string
}

var oeReleases = []oeRelease{
	{"kirkstone", "4.0", "1.17", false, "git", false, false, 1, []string{"go-mod", "bin_package", "update-rc.d", "systemd"}},
	{"scarthgap", "5.0", "1.22", false, "git", false, false, 1, []string{"go-mod", "bin_package", "update-rc.d", "systemd"}},
	{"styhead", "5.1", "1.22", true, "git", true, false, 1, []string{"go-mod", "bin_package", "update-rc.d", "systemd"}},
	{"walnascar", "5.2", "1.24", true, "git", true, false, 1, []string{"go-mod", "bin_package", "update-rc.d", "systemd"}},
	{"whinlatter", "5.3", "1.25", true, "${BP}", false, true, 1, []string{"go-mod", "go-mod-update-modules", "bin_package", "update-rc.d", "systemd"}},
}

// The releases each recipe is meant for (README.md's table).
var recipeReleases = map[string][]string{
	"fecdeploy-shell_1.0.bb":  {"kirkstone", "scarthgap", "styhead", "walnascar", "whinlatter"},
	"fecdeploy-go-bin_1.0.bb": {"kirkstone", "scarthgap", "styhead", "walnascar", "whinlatter"},
	"fecdeploy-go_git.bb":     {"walnascar", "whinlatter"},
}

// The variables of oe-core (bitbake.conf and the classes) the recipes may use.
func (r oeRelease) vars(pn string) map[string]string {
	w := "/build/tmp/work/core2-64-poky-linux/" + pn + "/1.0"
	v := map[string]string{
		"WORKDIR": w, "D": w + "/image", "PN": pn, "BP": pn + "-1.0", "TARGET_ARCH": "x86_64",
		"bindir": "/usr/bin", "sbindir": "/usr/sbin", "sysconfdir": "/etc", "libdir": "/usr/lib",
		"systemd_system_unitdir": "/usr/lib/systemd/system", "AUTOREV": "AUTOINC", "DISTRO_FEATURES": "sysvinit systemd",
		"S": w + "/" + pn + "-1.0",
	}
	if r.unpackDir {
		v["UNPACKDIR"] = w + "/sources-unpack"
		if r.name == "whinlatter" {
			v["UNPACKDIR"] = w + "/sources"
			v["S"] = v["UNPACKDIR"] + "/" + v["BP"]
		}
	}
	return v
}

type recipe struct {
	raw      map[string]string // NAME (with :override) -> unexpanded value
	inherits []string
	funcs    map[string]string // task name -> body
}

var (
	assignRe = regexp.MustCompile(`^(?:export\s+)?([A-Za-z_][A-Za-z0-9_:${}\-\[\]]*)\s*(\?\?=|\?=|:=|\+=|=\+|\.=|=)\s*"(.*)"$`)
	funcRe   = regexp.MustCompile(`^(?:python\s+)?([a-z_][a-z0-9_:]*)\s*\(\)\s*\{$`)
	varRef   = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)\}`)
)

// parseRecipe reads a .bb the way bitbake's parser sees it: comments dropped,
// backslash continuations joined, assignments, inherits and shell functions.
func parseRecipe(t *testing.T, path string) recipe {
	t.Helper()
	r := recipe{raw: map[string]string{}, funcs: map[string]string{}}
	sc := bufio.NewScanner(strings.NewReader(testkit.ReadFile(t, path)))
	var cont string
	var fn string
	var body []string
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if fn != "" {
			if line == "}" {
				r.funcs[fn] = strings.Join(body, "\n")
				fn, body = "", nil
			} else {
				body = append(body, line)
			}
			continue
		}
		if strings.HasSuffix(line, "\\") {
			cont += strings.TrimSuffix(line, "\\") + " "
			continue
		}
		line, cont = strings.TrimSpace(cont+line), ""
		switch {
		case line == "" || strings.HasPrefix(line, "#"):
		case strings.HasPrefix(line, "inherit "):
			r.inherits = append(r.inherits, strings.Fields(line)[1:]...)
		case funcRe.MatchString(line):
			fn = funcRe.FindStringSubmatch(line)[1]
		default:
			m := assignRe.FindStringSubmatch(line)
			require.NotNil(t, m, "%s:%d: not an assignment bitbake parses: %q", path, n, line)
			name, op, val := m[1], m[2], m[3]
			switch op {
			case "+=":
				r.raw[name] = strings.TrimSpace(r.raw[name] + " " + val)
			case "?=", "??=":
				if _, ok := r.raw[name]; !ok {
					r.raw[name] = val
				}
			default:
				r.raw[name] = val
			}
		}
	}
	require.Empty(t, fn, "%s: function %s not closed", path, fn)
	return r
}

// expand expands ${VAR} and the inline python forms the recipes use, like
// bitbake's d.getVar(…, expand=True) for one release.
func expand(t *testing.T, where, s string, vars map[string]string, depth int) string {
	t.Helper()
	require.Less(t, depth, 20, "%s: expansion loops: %q", where, s)
	s = replaceInlinePython(s, func(m string) string {
		code := strings.TrimSpace(m[3 : len(m)-1])
		get := func(name string) (string, bool) {
			v, ok := vars[name]
			return v, ok
		}
		if a, b, ok := strings.Cut(code, " or "); ok { // d.getVar('A') or d.getVar('B')
			va, okA := get(pyGetVar(t, where, a))
			if okA && va != "" {
				return va
			}
			vb, okB := get(pyGetVar(t, where, b))
			require.True(t, okB, "%s: %s is undefined", where, b)
			return vb
		}
		if strings.HasPrefix(code, "bb.utils.contains(") { // both branches are checked by the caller
			return "true"
		}
		if strings.HasPrefix(code, "{") && strings.Contains(code, ".get(d.getVar('TARGET_ARCH')") {
			arch := vars["TARGET_ARCH"]
			mm := regexp.MustCompile(`'` + regexp.QuoteMeta(arch) + `':\s*'([^']*)'`).FindStringSubmatch(code)
			require.NotNil(t, mm, "%s: no entry for TARGET_ARCH %s", where, arch)
			return mm[1]
		}
		require.Fail(t, "inline python the test cannot evaluate; extend expand()", "%s: %s", where, code)
		return ""
	})
	out := varRef.ReplaceAllStringFunc(s, func(m string) string {
		name := m[2 : len(m)-1]
		v, ok := vars[name]
		assert.True(t, ok, "%s: ${%s} is defined neither by the recipe nor by oe-core", where, name)
		return v
	})
	if out != s && strings.Contains(out, "${") {
		return expand(t, where, out, vars, depth+1)
	}
	return out
}

// replaceInlinePython replaces each ${@…} (braces inside balanced) by f of it.
func replaceInlinePython(s string, f func(string) string) string {
	var b strings.Builder
	for {
		i := strings.Index(s, "${@")
		if i < 0 {
			return b.String() + s
		}
		depth, j := 0, i+1
		for ; j < len(s); j++ {
			if s[j] == '{' {
				depth++
			} else if s[j] == '}' {
				depth--
				if depth == 0 {
					break
				}
			}
		}
		if j >= len(s) {
			return b.String() + s
		}
		b.WriteString(s[:i])
		b.WriteString(f(s[i : j+1]))
		s = s[j+1:]
	}
}

func pyGetVar(t *testing.T, where, expr string) string {
	m := regexp.MustCompile(`^d\.getVar\('([A-Za-z_]+)'\)$`).FindStringSubmatch(strings.TrimSpace(expr))
	require.NotNil(t, m, "%s: unexpected inline python %q", where, expr)
	return m[1]
}

// TestRecipesParseAsBitbake checks every recipe against every release it targets:
// the classes it inherits exist, every variable it uses is defined, S passes
// insane.bbclass, and every file do_install installs is one do_unpack put there
// (a file:// entry of SRC_URI, or a file of the git source).
func TestRecipesParseAsBitbake(t *testing.T) {
	t.Parallel()
	repo, err := filepath.Abs("../..")
	require.NoError(t, err)
	for file, targets := range recipeReleases {
		r := parseRecipe(t, file)
		pn := strings.SplitN(strings.TrimSuffix(file, ".bb"), "_", 2)[0]
		for _, rel := range oeReleases {
			if !contains(targets, rel.name) {
				continue
			}
			where := file + " on " + rel.name + " (" + rel.version + ")"
			for _, c := range r.inherits {
				assert.True(t, contains(rel.classes, c), "%s: inherits %s, which the release does not have", where, c)
			}
			vars := rel.vars(pn)
			usesGo := contains(r.inherits, "go-mod") || contains(r.inherits, "go")
			if usesGo {
				// go.bbclass: GO_SRCURI_DESTSUFFIX only since styhead.
				if rel.unpackDir {
					vars["GO_SRCURI_DESTSUFFIX"] = "${BP}/src/${GO_IMPORT}/"
				}
				ok := versionAtLeast(rel.goVersion, "1.24")
				assert.True(t, ok, "%s: builds with Go %s, go.mod needs 1.24", where, rel.goVersion)
			}
			sRaw, setsS := r.raw["S"]
			for name, val := range r.raw {
				if !strings.ContainsAny(name, ":[") {
					vars[name] = val
				}
			}
			// Weak defaults of bitbake.conf stay unless the recipe set them.
			if !setsS && usesGo {
				sRaw = vars["S"]
			}
			s := expand(t, where+": S", vars["S"], vars, 0)
			if rel.unpackDir {
				assert.NotEqual(t, vars["WORKDIR"], s, "%s: insane.bbclass: S = ${WORKDIR} is no longer supported", where)
			}
			if rel.noWorkdirInS && setsS {
				assert.NotContains(t, sRaw, "${WORKDIR}", "%s: insane.bbclass refuses ${WORKDIR} in S", where)
				assert.NotContains(t, []string{"${WORKDIR}/git", "${UNPACKDIR}/git"}, sRaw, "%s: insane.bbclass refuses S = …/git", where)
			}

			// do_unpack: where each source lands.
			unpack := vars["WORKDIR"]
			if rel.unpackDir {
				unpack = vars["UNPACKDIR"]
			}
			present := map[string]string{} // path on the build host -> file in this repository
			gitDir := ""
			for _, u := range strings.Fields(expand(t, where+": SRC_URI", r.raw["SRC_URI"], vars, 0)) {
				switch {
				case strings.HasPrefix(u, "file://"):
					rel := strings.SplitN(strings.TrimPrefix(u, "file://"), ";", 2)[0]
					local := filepath.Join("files", rel)
					if filepath.Base(rel) == "fec-boot" { // the prebuilt binary, copied in by the user from `make cross`
						local = ""
					} else {
						_, err := os.Stat(local)
						assert.NoError(t, err, "%s: SRC_URI names %s, not in files/", where, rel)
					}
					present[filepath.Join(unpack, rel)] = local
				case strings.HasPrefix(u, "git://"):
					dest := rel.gitDest
					for _, p := range strings.Split(u, ";")[1:] {
						if k, v, _ := strings.Cut(p, "="); k == "destsuffix" {
							dest = v
						}
					}
					dest = expand(t, where+": destsuffix", dest, vars, 0)
					gitDir = filepath.Join(unpack, dest)
					if rel.moveToWorkdir && strings.HasPrefix(s, vars["WORKDIR"]+"/") && !strings.HasPrefix(s, unpack) {
						base := strings.SplitN(strings.TrimPrefix(s, vars["WORKDIR"]+"/"), "/", 2)[0]
						if strings.HasPrefix(dest, base) {
							gitDir = filepath.Join(vars["WORKDIR"], dest)
						}
					}
				default:
					assert.Fail(t, "unexpected SRC_URI entry", "%s: %s", where, u)
				}
			}
			if gitDir != "" && !usesGo {
				assert.Equal(t, gitDir, s, "%s: S is not where the git source is unpacked", where)
			}

			// do_install: every installed source file was unpacked.
			body := r.funcs["do_install"] + "\n" + r.funcs["do_install:append"]
			require.NotEmpty(t, strings.TrimSpace(body), "%s: no do_install", where)
			installs := 0
			for _, line := range strings.Split(body, "\n") {
				f := strings.Fields(expand(t, where+": do_install", line, vars, 0))
				if len(f) < 3 || f[0] != "install" || f[1] == "-d" {
					continue
				}
				src := f[len(f)-2]
				installs++
				if gitDir != "" && strings.HasPrefix(src, gitDir+"/") {
					_, err := os.Stat(filepath.Join(repo, strings.TrimPrefix(src, gitDir+"/")))
					assert.NoError(t, err, "%s: installs %s, not in the git source", where, src)
					continue
				}
				_, ok := present[src]
				assert.True(t, ok, "%s: installs %s, which do_unpack does not put there (unpacked: %v)", where, src, keys(present))
			}
			assert.Greater(t, installs, 2, "%s: installs nothing", where)

			// SysV start after networking, in the multi-user runlevels.
			params := strings.Fields(r.raw["INITSCRIPT_PARAMS"])
			require.GreaterOrEqual(t, len(params), 3, "%s: INITSCRIPT_PARAMS", where)
			assert.Equal(t, "start", params[0], where)
			nn, err := strconv.Atoi(params[1])
			require.NoError(t, err, "%s: INITSCRIPT_PARAMS start number", where)
			assert.Greater(t, nn, rel.networking, "%s: starts before networking (S%02d)", where, rel.networking)
			assert.Less(t, nn, 20, "%s: starts after services at update-rc.d's default S20", where)
			assert.Equal(t, []string{"2", "3", "4", "5", "."}, params[2:], "%s: networking runs in 2 3 4 5; S runs before it", where)
		}
	}
}

// Every release with Go >= 1.24 is covered by the go-mod recipe, every other by the prebuilt one.
func TestGoRecipeCoversReleasesByGoVersion(t *testing.T) {
	t.Parallel()
	for _, rel := range oeReleases {
		src := contains(recipeReleases["fecdeploy-go_git.bb"], rel.name)
		assert.Equal(t, versionAtLeast(rel.goVersion, "1.24"), src, "%s (Go %s): fecdeploy-go_git.bb targets it", rel.name, rel.goVersion)
		assert.True(t, contains(recipeReleases["fecdeploy-go-bin_1.0.bb"], rel.name), "%s: the prebuilt recipe covers it", rel.name)
		assert.Contains(t, testkit.ReadFile(t, "README.md"), rel.name, "README names %s", rel.name)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func keys(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func versionAtLeast(have, want string) bool {
	var hm, hn, wm, wn int
	fmt.Sscanf(have, "%d.%d", &hm, &hn)
	fmt.Sscanf(want, "%d.%d", &wm, &wn)
	return hm > wm || hm == wm && hn >= wn
}
