package monitor

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"

	"github.com/fair-acc/fecdeploy/internal/durable"
)

// Names inside an output directory of WriteSet:
//
//	<dir>/current -> sets/<id>     what Icinga includes (include_recursive "<dir>/current")
//	<dir>/sets/<id>/*.conf         one generated set; <id> is a digest of its content
//	<dir>/.lock                    flock'ed while a set is written
const (
	CurrentLink = "current"
	SetsDir     = "sets"
)

// ErrRejected: icinga2 daemon -C refused the candidate set; the previous
// set stays current.
var ErrRejected = errors.New("monitor: icinga2 rejected the generated configuration")

// SetOptions tune WriteSet.
type SetOptions struct {
	// Check runs `icinga2 daemon -C` on the candidate before it becomes
	// current, with a minimal top-level icinga2.conf that includes the
	// Icinga Template Library, the plugin commands, CheckIncludes and the
	// candidate.
	Check bool
	// Icinga2 is the icinga2 binary (default "icinga2" from PATH).
	Icinga2 string
	// CheckIncludes are further files the check includes (e.g. the site's
	// own CheckCommands the generated objects use).
	CheckIncludes []string
	// Reload is run (argv) after a new set became current, e.g.
	// []string{"systemctl", "reload", "icinga2"}. Not run when nothing changed.
	Reload []string
}

// SetResult says what WriteSet did.
type SetResult struct {
	Dir       string // the new current set (absolute)
	Changed   bool   // false: the same set was current already
	Reloaded  bool
	CheckLog  string // icinga2's output when it checked the set
	Discarded string // a set that icinga2 rejected (removed)
}

// SetID is the digest that names a set of files.
func SetID(files []File) string {
	h := sha256.New()
	fs := append([]File(nil), files...)
	sort.Slice(fs, func(i, j int) bool { return fs[i].Name < fs[j].Name })
	for _, f := range fs {
		fmt.Fprintf(h, "%s\x00%d\x00", f.Name, len(f.Data))
		h.Write(f.Data)
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}

// WriteSet writes files as a new set under dir and makes it current in one
// step (a symlink switch), so Icinga never reads half of it. With
// o.Check, a set icinga2 rejects is removed and ErrRejected returned: the
// previous set stays current. Old sets but the previous one are removed.
// Concurrent calls on one dir are serialised by a lock file (<dir>/.lock).
func WriteSet(ctx context.Context, dir string, files []File, o SetOptions) (SetResult, error) {
	var res SetResult
	dir, err := filepath.Abs(dir)
	if err != nil {
		return res, err
	}
	for _, f := range files {
		if f.Name != filepath.Base(f.Name) || !strings.HasSuffix(f.Name, ".conf") {
			return res, fmt.Errorf("monitor: bad file name %q in a set", f.Name)
		}
	}
	sets := filepath.Join(dir, SetsDir)
	if err := os.MkdirAll(sets, 0o755); err != nil {
		return res, fmt.Errorf("monitor: creating %s: %w", sets, err)
	}
	// One generator at a time per output directory.
	lock, err := os.OpenFile(filepath.Join(dir, ".lock"), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return res, fmt.Errorf("monitor: %w", err)
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return res, fmt.Errorf("monitor: locking %s: %w", dir, err)
	}
	if st, err := os.Lstat(filepath.Join(dir, CurrentLink)); err == nil && st.Mode()&os.ModeSymlink == 0 {
		return res, fmt.Errorf("monitor: %s is not a symlink; move it away (WriteSet owns %s)", filepath.Join(dir, CurrentLink), dir)
	}
	id := SetID(files)
	target := filepath.Join(SetsDir, id)
	res.Dir = filepath.Join(dir, target)
	prev, _ := os.Readlink(filepath.Join(dir, CurrentLink))
	if prev == target {
		if _, err := os.Stat(res.Dir); err == nil {
			return res, nil
		}
	}
	if _, err := os.Stat(res.Dir); err != nil {
		tmp, err := os.MkdirTemp(sets, ".tmp-")
		if err != nil {
			return res, fmt.Errorf("monitor: %w", err)
		}
		for _, f := range files {
			if err := durable.WriteFile(filepath.Join(tmp, f.Name), f.Data, 0o644); err != nil {
				os.RemoveAll(tmp)
				return res, fmt.Errorf("monitor: writing the set: %w", err)
			}
		}
		if err := os.Chmod(tmp, 0o755); err != nil {
			os.RemoveAll(tmp)
			return res, err
		}
		if err := os.Rename(tmp, res.Dir); err != nil {
			os.RemoveAll(tmp)
			return res, fmt.Errorf("monitor: %w", err)
		}
		if err := durable.SyncDir(sets); err != nil {
			return res, err
		}
	}
	if o.Check {
		out, err := Check(ctx, res.Dir, o)
		res.CheckLog = out
		if err != nil {
			if errors.Is(err, ErrRejected) && filepath.Join(dir, prev) != res.Dir {
				os.RemoveAll(res.Dir)
				res.Discarded, res.Dir = filepath.Join(dir, target), ""
			}
			return res, err
		}
	}
	if err := durable.Symlink(target, dir, CurrentLink, durable.Options{Prefix: ".tmp-"}); err != nil {
		return res, fmt.Errorf("monitor: switching %s: %w", filepath.Join(dir, CurrentLink), err)
	}
	res.Changed = true
	// Keep the current and the previous set (to compare or go back by hand).
	if ents, err := os.ReadDir(sets); err == nil {
		for _, e := range ents {
			p := filepath.Join(SetsDir, e.Name())
			if p != target && p != prev && !strings.HasPrefix(e.Name(), ".tmp-") {
				os.RemoveAll(filepath.Join(sets, e.Name()))
			}
		}
	}
	if len(o.Reload) > 0 {
		cmd := exec.CommandContext(ctx, o.Reload[0], o.Reload[1:]...)
		if out, err := cmd.CombinedOutput(); err != nil {
			return res, fmt.Errorf("monitor: the new set is current, but reloading Icinga (%s) failed: %w: %s",
				strings.Join(o.Reload, " "), err, bytes.TrimSpace(out))
		}
		res.Reloaded = true
	}
	return res, nil
}

// CheckConf is the minimal top-level icinga2.conf that validates the set in
// setDir (plus includes): what Check runs icinga2 on.
func CheckConf(setDir string, includes []string) []byte {
	var b bytes.Buffer
	b.WriteString("// fecdeploy: validation of a generated set\n")
	b.WriteString("const PluginDir = \"/usr/lib/nagios/plugins\"\nconst NodeName = \"fecdeploy-check\"\nconst ZoneName = \"fecdeploy-check\"\n")
	b.WriteString("include <itl>\ninclude <plugins>\n")
	for _, inc := range includes {
		fmt.Fprintf(&b, "include %s\n", quote(inc))
	}
	fmt.Fprintf(&b, "include_recursive %s\n", quote(setDir))
	return b.Bytes()
}

// Check runs `icinga2 daemon -C` on the set in setDir with a minimal
// top-level configuration (CheckConf) in a temporary directory. It returns
// icinga2's output; ErrRejected (with the relevant lines) when icinga2
// refuses the configuration.
func Check(ctx context.Context, setDir string, o SetOptions) (string, error) {
	bin := o.Icinga2
	if bin == "" {
		bin = "icinga2"
	}
	tmp, err := os.MkdirTemp("", "fecdeploy-icinga-check-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	if err := os.WriteFile(filepath.Join(tmp, "icinga2.conf"), CheckConf(setDir, o.CheckIncludes), 0o644); err != nil {
		return "", err
	}
	if err := os.Mkdir(filepath.Join(tmp, "cache"), 0o700); err != nil {
		return "", err
	}
	cmd := exec.CommandContext(ctx, bin, CheckArgs(filepath.Join(tmp, "icinga2.conf"), filepath.Join(tmp, "cache"))...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return string(out), fmt.Errorf("%w (the previous set stays current): %s", ErrRejected, relevant(out))
		}
		return string(out), fmt.Errorf("monitor: running %s: %w", bin, err)
	}
	return string(out), nil
}

// relevant keeps icinga2's critical lines and the source excerpts after them.
func relevant(out []byte) string {
	var keep []string
	on := false
	for _, l := range strings.Split(string(out), "\n") {
		if strings.Contains(l, "critical/") {
			on = true
		} else if strings.Contains(l, "/") && strings.HasPrefix(l, "[") {
			on = false
		}
		if on && strings.TrimSpace(l) != "" {
			keep = append(keep, l)
		}
	}
	if len(keep) == 0 {
		return strings.TrimSpace(string(out))
	}
	return strings.Join(keep, "\n")
}

// CheckArgs are icinga2's arguments to validate the top-level file conf
// with its cache (the objects file) in cacheDir, which must exist. As root,
// icinga2 would drop to its own user, who cannot write a private scratch
// directory: the check then stays root (it only reads configuration).
func CheckArgs(conf, cacheDir string) []string {
	args := []string{"daemon", "-C", "-c", conf, "-DConfiguration.CacheDir=" + cacheDir, "-x", "warning"}
	if os.Geteuid() == 0 {
		args = append(args, "-DRunAsUser=root", "-DRunAsGroup=root")
	}
	return args
}
