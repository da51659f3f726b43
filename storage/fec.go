package storage

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/fair-acc/fecdeploy/index"
)

// FECConfig is the content of fecs/<FEC>/fec.conf.
//
//	# fecdeploy FEC configuration: key=value, one per line
//	arch=x86_64
//	decoders=gzip,xz,zstd
type FECConfig struct {
	// Arch is the FEC's architecture (x86_64, i686, ppc, ...). Required;
	// "noarch" is not a FEC architecture.
	Arch string
	// Decoders lists the archive formats the FEC's client can decompress
	// (zstd, gzip, xz; gz, zst accepted). Empty means the default: gzip,xz
	// for ppc/powerpc (busybox fec-boot.sh, no zstd in busybox tar),
	// gzip,xz,zstd otherwise (the Go client).
	Decoders []string
	// Persistent creates fecs/<FEC>/persistent-data/ (AddFEC only): the FEC's
	// data is pulled by fec-persist and restored at boot.
	Persistent bool
	// Other keeps keys this version does not know, written back unchanged.
	Other map[string]string
}

// FECInfo describes a FEC: its configuration and what it gets.
type FECInfo struct {
	Name       string
	Config     FECConfig
	Persistent bool          // has a persistent-data/ folder
	Index      *index.Index  // what BuildIndex resolves now (nil when it fails)
	IndexError error         // why BuildIndex failed (broken link, arch mismatch, ...)
	Entries    []index.Entry // Index.Entries, for convenience
}

// allDecoders is the order decoders are written in fec.conf.
var allDecoders = []index.Format{index.FormatGzip, index.FormatXz, index.FormatZstd}

// normalize validates c and fills in defaults.
func (c FECConfig) normalize() (FECConfig, error) {
	if err := index.CheckName("architecture", c.Arch); err != nil {
		return c, err
	}
	if c.Arch == index.NoArch {
		return c, fmt.Errorf("%w: %q is the architecture of arch-independent archives, not of a FEC", ErrBadRequest, index.NoArch)
	}
	if len(c.Decoders) == 0 {
		switch c.Arch {
		case "ppc", "powerpc":
			c.Decoders = []string{string(index.FormatGzip), string(index.FormatXz)}
		default:
			for _, f := range allDecoders {
				c.Decoders = append(c.Decoders, string(f))
			}
		}
	}
	set := map[index.Format]bool{}
	for _, d := range c.Decoders {
		f, err := index.ParseFormat(d)
		if err != nil {
			return c, fmt.Errorf("%w: unknown decoder %q (want zstd, gzip or xz)", ErrBadRequest, d)
		}
		set[f] = true
	}
	c.Decoders = c.Decoders[:0:0]
	for _, f := range allDecoders {
		if set[f] {
			c.Decoders = append(c.Decoders, string(f))
		}
	}
	for k, v := range c.Other {
		if k == "arch" || k == "decoders" || index.CheckName("fec.conf key", k) != nil || strings.ContainsAny(v, "\n\r") {
			return c, fmt.Errorf("%w: fec.conf key %q", ErrBadRequest, k)
		}
	}
	return c, nil
}

// CanDecode reports whether the FEC can decompress an archive format.
func (c FECConfig) CanDecode(format index.Format) bool {
	for _, d := range c.Decoders {
		if d == string(format) {
			return true
		}
	}
	return false
}

func (c FECConfig) marshal() []byte {
	var b bytes.Buffer
	b.WriteString("# fecdeploy FEC configuration: key=value, one per line\n")
	fmt.Fprintf(&b, "arch=%s\n", c.Arch)
	fmt.Fprintf(&b, "decoders=%s\n", strings.Join(c.Decoders, ","))
	keys := make([]string, 0, len(c.Other))
	for k := range c.Other {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(&b, "%s=%s\n", k, c.Other[k])
	}
	return b.Bytes()
}

func parseFECConf(data []byte) (FECConfig, error) {
	var c FECConfig
	sc := bufio.NewScanner(bytes.NewReader(data))
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			return c, fmt.Errorf("line %d: %q is not key=value", n, line)
		}
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		switch k {
		case "arch":
			c.Arch = v
		case "decoders":
			c.Decoders = nil
			for _, d := range strings.Split(v, ",") {
				if d = strings.TrimSpace(d); d != "" {
					c.Decoders = append(c.Decoders, d)
				}
			}
			if len(c.Decoders) == 0 {
				return c, fmt.Errorf("line %d: decoders is empty", n)
			}
		default:
			if c.Other == nil {
				c.Other = map[string]string{}
			}
			c.Other[k] = v
		}
	}
	if c.Arch == "" {
		return c, fmt.Errorf("no arch= line")
	}
	c, err := c.normalize()
	return c, err
}

// readFECConf reads fecs/<FEC>/fec.conf; ErrUnknownFEC when there is none.
func (s *Storage) readFECConf(fec string) (FECConfig, error) {
	p, err := s.absFor(fecConfPathSpec{fec})
	if err != nil {
		return FECConfig{}, err
	}
	data, err := os.ReadFile(p)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return FECConfig{}, fmt.Errorf("%w: %q has no %s (add it with AddFEC / fecctl add-fec; known FECs: %s)",
				ErrUnknownFEC, fec, p, s.knownFECs())
		}
		return FECConfig{}, fmt.Errorf("storage: reading %s: %w", p, err)
	}
	c, err := parseFECConf(data)
	if err != nil {
		return FECConfig{}, fmt.Errorf("storage: %s: %w", p, err)
	}
	return c, nil
}

func (s *Storage) knownFECs() string {
	fecs, err := s.fecs()
	if err != nil || len(fecs) == 0 {
		return "none"
	}
	if len(fecs) > 10 {
		return strings.Join(fecs[:10], ", ") + fmt.Sprintf(", ... (%d in all)", len(fecs))
	}
	return strings.Join(fecs, ", ")
}

// FECs lists the FECs (folders under fecs/ with a fec.conf), sorted.
func (s *Storage) FECs(ctx context.Context) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return s.fecs()
}

func (s *Storage) fecs() ([]string, error) {
	ents, err := os.ReadDir(s.abs(FECsDir))
	if err != nil {
		return nil, fmt.Errorf("storage: listing FECs: %w", err)
	}
	var fecs []string
	for _, e := range ents {
		if !e.IsDir() || index.CheckFECName(e.Name()) != nil {
			continue
		}
		if _, err := os.Stat(filepath.Join(s.abs(FECsDir), e.Name(), FECConfName)); err == nil {
			fecs = append(fecs, e.Name())
		}
	}
	return fecs, nil
}

// FEC describes one FEC. When its links do not resolve to a valid index,
// the returned info still has the configuration, and IndexError says why.
func (s *Storage) FEC(ctx context.Context, name string) (FECInfo, error) {
	c, err := s.readFECConf(name)
	if err != nil {
		return FECInfo{}, err
	}
	info := FECInfo{Name: name, Config: c}
	if p, err := s.absFor(fecKindPathSpec{name, index.KindData}); err == nil {
		if st, err := os.Stat(p); err == nil && st.IsDir() {
			info.Persistent = true
		}
	}
	info.Config.Persistent = info.Persistent
	ix, err := s.BuildIndex(ctx, name)
	if err != nil {
		info.IndexError = err
		return info, nil
	}
	info.Index, info.Entries = ix, ix.Entries
	return info, nil
}

// AddFEC creates fecs/<name>/ with its fec.conf and empty init/, software/
// and configuration/ folders (and persistent-data/ when c.Persistent), and
// writes its (empty) INDEX. ErrExists when the FEC already has a fec.conf.
func (s *Storage) AddFEC(ctx context.Context, name string, c FECConfig) error {
	dir, err := s.absFor(fecPathSpec{name})
	if err != nil {
		return err
	}
	c, err = c.normalize()
	if err != nil {
		return fmt.Errorf("storage: adding FEC %s: %w", name, err)
	}
	return s.locked(ctx, func() error {
		if _, err := os.Stat(filepath.Join(dir, FECConfName)); err == nil {
			return fmt.Errorf("%w: FEC %s (%s); change it with SetDecoders or by hand", ErrExists, name, filepath.Join(dir, FECConfName))
		}
		created, err := mkdirs(s.base, dir)
		if err != nil {
			removeEmpty(created)
			return fmt.Errorf("storage: adding FEC %s: %w", name, err)
		}
		kinds := []index.Kind{index.KindInit, index.KindSoftware, index.KindConfiguration}
		if c.Persistent {
			kinds = append(kinds, index.KindData)
		}
		for _, k := range kinds {
			d, _ := kindDir(k)
			more, err := mkdirs(s.base, filepath.Join(dir, d))
			created = append(created, more...)
			if err != nil {
				removeEmpty(created)
				return fmt.Errorf("storage: adding FEC %s: %w", name, err)
			}
		}
		if err := writeFileAtomic(dir, FECConfName, 0o644, c.marshal()); err != nil {
			removeEmpty(created)
			return fmt.Errorf("storage: adding FEC %s: writing %s: %w", name, FECConfName, err)
		}
		s.logger().Info("added FEC", "fec", name, "arch", c.Arch, "decoders", strings.Join(c.Decoders, ","))
		return s.reindexLocked(ctx, []string{name})
	})
}

// SetDecoders changes the decoders in a FEC's fec.conf. It refuses (with
// ErrNoDecoder, nothing changed) when an archive linked to the FEC would no
// longer be decodable.
func (s *Storage) SetDecoders(ctx context.Context, fec string, decoders []string) error {
	return s.locked(ctx, func() error {
		c, err := s.readFECConf(fec)
		if err != nil {
			return err
		}
		c.Decoders = decoders
		if len(decoders) == 0 {
			return fmt.Errorf("%w: FEC %s: decoders must not be empty", ErrBadRequest, fec)
		}
		if c, err = c.normalize(); err != nil {
			return fmt.Errorf("storage: FEC %s: %w", fec, err)
		}
		if _, err := s.buildIndexWith(fec, c, newHashCache()); err != nil {
			return fmt.Errorf("storage: not changing the decoders of %s: %w", fec, err)
		}
		dir, _ := s.absFor(fecPathSpec{fec})
		if err := writeFileAtomic(dir, FECConfName, 0o644, c.marshal()); err != nil {
			return fmt.Errorf("storage: FEC %s: writing %s: %w", fec, FECConfName, err)
		}
		s.logger().Info("set decoders", "fec", fec, "decoders", strings.Join(c.Decoders, ","))
		return s.reindexLocked(ctx, []string{fec})
	})
}
