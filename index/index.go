// Package index is the protocol: everything the writer and both boot
// clients must agree on, in one place. Its centre is the per-FEC INDEX, the
// one file a FEC fetches (at IndexURLPath, signed at SigURLPath) to learn
// what to install; around it the kinds of entries, the name and path rules,
// the archive formats (one table: name, extension, magic bytes, Detect),
// "dev" and "noarch", and the ed25519 signatures. The INDEX is
// line-oriented text so that both the Go client and a busybox shell loop
// parse it; docs/index-format.md is its specification and this package its
// reference implementation.
//
//	fecdeploy-index 1 fec=fec01 arch=x86_64
//	init 10-network <sha256> 1234 fecs/global/10-network
//	software Foo_DU <sha256> 5555123 software/Foo_DU/1.2.0/Foo_DU-1.2.0-x86_64.tar.zst format=zstd version=1.2.0
//
// The package does no I/O beyond the reader and writer it is given.
package index

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Magic starts the header line; FormatVersion follows it.
const (
	Magic         = "fecdeploy-index"
	FormatVersion = 1
)

// MaxSize is the largest INDEX a client accepts (1,000 entries take ~200 KiB).
const MaxSize = 4 << 20

// File names of the index and its detached signature inside fecs/<FEC>/.
const (
	FileName    = "INDEX"
	SigFileName = "INDEX.sig"
)

// Errors returned by this package; test with errors.Is.
var (
	ErrFormat       = errors.New("index: malformed INDEX")
	ErrVersion      = errors.New("index: unsupported INDEX format version")
	ErrTooLarge     = errors.New("index: INDEX too large")
	ErrBadName      = errors.New("index: bad name")
	ErrUnsigned     = errors.New("index: INDEX is not signed")
	ErrBadSignature = errors.New("index: INDEX signature does not verify with any trusted key")
)

// Kind is what an entry is and decides where it goes on the FEC.
type Kind string

// The kinds, in the order they appear in an INDEX.
const (
	KindInit          Kind = "init"          // a script, run at boot in name order
	KindSoftware      Kind = "software"      // a compressed tar, unpacked at its paths
	KindConfiguration Kind = "configuration" // a compressed tar, unpacked at its paths
	KindData          Kind = "data"          // a persistent-data snapshot, unpacked at its paths
)

// Kinds lists the kinds in INDEX order.
var Kinds = []Kind{KindInit, KindSoftware, KindConfiguration, KindData}

func kindRank(k Kind) int {
	for i, x := range Kinds {
		if x == k {
			return i
		}
	}
	return -1
}

// IsArchive reports whether entries of this kind are compressed tar archives.
func (k Kind) IsArchive() bool { return k != KindInit }

// DevVersion is the version of development releases: the one mutable
// version, marked by the dev flag in an INDEX entry, never started as a
// daemon at boot.
const DevVersion = "dev"

// NoArch is the architecture of archives whose content runs anywhere
// (scripts, configuration, data); they may be linked to a FEC of any
// architecture. It is not a FEC architecture.
const NoArch = "noarch"

// IndexURLPath and SigURLPath are the paths, relative to the storage base
// URL, where a FEC fetches its INDEX and its detached signature.
func IndexURLPath(fec string) string { return "fecs/" + fec + "/" + FileName }

// SigURLPath: see IndexURLPath.
func SigURLPath(fec string) string { return "fecs/" + fec + "/" + SigFileName }

// Entry is one thing a FEC fetches.
type Entry struct {
	Kind    Kind
	Name    string // unique within its kind
	SHA256  string // lowercase hex
	Size    int64  // bytes
	Path    string // relative to the storage base, slash-separated; the resolved target
	Format  Format // zstd, gzip or xz for archives; empty for init scripts
	Version string // the version the path names, if any
	Dev     bool   // a development release: installed, but not started as a daemon
	// Attrs holds key=value attributes this version does not know, kept so a
	// newer writer's hints survive a round trip. Flags without '=' are stored
	// with an empty value.
	Attrs map[string]string
}

// Index is a parsed INDEX.
type Index struct {
	FEC  string
	Arch string
	// Serial is the signed, strictly increasing serial= (0 = none): a
	// client refuses one below the highest it accepted (CheckFresh).
	Serial uint64
	// Expires is the signed expires= in unix seconds (zero = never): a
	// client with a sane clock refuses the INDEX from then on.
	Expires time.Time
	// Attrs holds further header attributes (key=value), e.g. decoders=gzip,xz.
	Attrs   map[string]string
	Entries []Entry
}

// Lookup returns the entry of a kind and name.
func (ix *Index) Lookup(k Kind, name string) (Entry, bool) {
	for _, e := range ix.Entries {
		if e.Kind == k && e.Name == name {
			return e, true
		}
	}
	return Entry{}, false
}

// Sort puts entries in canonical order: by kind (init, software,
// configuration, data), then by name in byte order.
func (ix *Index) Sort() {
	sort.SliceStable(ix.Entries, func(i, j int) bool {
		a, b := ix.Entries[i], ix.Entries[j]
		if ra, rb := kindRank(a.Kind), kindRank(b.Kind); ra != rb {
			return ra < rb
		}
		return a.Name < b.Name
	})
}

// Validate checks every field the way Parse does.
func (ix *Index) Validate() error {
	if err := CheckFECName(ix.FEC); err != nil {
		return fmt.Errorf("%w: header: %v", ErrFormat, err)
	}
	if err := CheckName("architecture", ix.Arch); err != nil {
		return fmt.Errorf("%w: header: %v", ErrFormat, err)
	}
	if !ix.Expires.IsZero() && ix.Expires.Unix() <= 0 {
		return fmt.Errorf("%w: header: expires %s is not after 1970", ErrFormat, ix.Expires)
	}
	for _, k := range []string{SerialKey, ExpiresKey} {
		if _, ok := ix.Attrs[k]; ok {
			return fmt.Errorf("%w: header: %s= belongs in Index.Serial/Expires, not Attrs", ErrFormat, k)
		}
	}
	for _, k := range sortedKeys(ix.Attrs) {
		if err := checkAttr(k, ix.Attrs[k]); err != nil {
			return fmt.Errorf("%w: header: %v", ErrFormat, err)
		}
	}
	seen := make(map[string]bool, len(ix.Entries))
	for i, e := range ix.Entries {
		if err := e.validate(); err != nil {
			return fmt.Errorf("%w: entry %d (%s %s): %v", ErrFormat, i+1, e.Kind, e.Name, err)
		}
		key := string(e.Kind) + " " + e.Name
		if seen[key] {
			return fmt.Errorf("%w: entry %d: %s %q is listed twice", ErrFormat, i+1, e.Kind, e.Name)
		}
		seen[key] = true
	}
	return nil
}

func (e *Entry) validate() error {
	if kindRank(e.Kind) < 0 {
		return fmt.Errorf("unknown kind %q (this client knows %v)", e.Kind, Kinds)
	}
	if err := CheckName(string(e.Kind)+" name", e.Name); err != nil {
		return err
	}
	if len(e.SHA256) != 64 || strings.Trim(e.SHA256, "0123456789abcdef") != "" {
		return fmt.Errorf("sha256 %q is not 64 lowercase hex digits", e.SHA256)
	}
	if e.Size < 0 {
		return fmt.Errorf("size %d is negative", e.Size)
	}
	if err := CheckPath(e.Path); err != nil {
		return err
	}
	switch {
	case e.Kind.IsArchive():
		switch {
		case e.Format == "":
			return fmt.Errorf("archive entry has no format= attribute")
		case !e.Format.Valid():
			return fmt.Errorf("unknown archive format %q (want zstd, gzip or xz)", e.Format)
		}
	case e.Format != "":
		return fmt.Errorf("init script has format=%s; scripts are not archives", e.Format)
	}
	if e.Version != "" {
		if err := CheckName("version", e.Version); err != nil {
			return err
		}
	}
	for k, v := range e.Attrs {
		if err := checkAttr(k, v); err != nil {
			return err
		}
	}
	return nil
}

func checkAttr(k, v string) error {
	if err := CheckName("attribute key", k); err != nil {
		return err
	}
	if strings.ContainsAny(v, " \t\r\n") {
		return fmt.Errorf("attribute %s has white space in its value", k)
	}
	for i := 0; i < len(v); i++ {
		if v[i] >= 0x80 {
			return fmt.Errorf("attribute %s has a non-ASCII byte in its value; the INDEX is ASCII text", k)
		}
	}
	return nil
}

// Parse reads an INDEX, refusing anything over MaxSize. It is strict, because
// the shell client must read the same file the same way: fields are separated
// by exactly one space, every line (the last one too) ends in '\n', and
// blank lines and lines starting with '#' are ignored.
func Parse(r io.Reader) (*Index, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxSize+1))
	if err != nil {
		return nil, fmt.Errorf("index: reading INDEX: %w", err)
	}
	if len(data) > MaxSize {
		return nil, fmt.Errorf("%w: more than %d bytes", ErrTooLarge, MaxSize)
	}
	return ParseBytes(data)
}

// ParseBytes is Parse on a byte slice.
func ParseBytes(data []byte) (*Index, error) {
	if len(data) > MaxSize {
		return nil, fmt.Errorf("%w: %d bytes, at most %d", ErrTooLarge, len(data), MaxSize)
	}
	if len(data) == 0 {
		return nil, fmt.Errorf("%w: empty file", ErrFormat)
	}
	if data[len(data)-1] != '\n' {
		return nil, fmt.Errorf("%w: last line does not end in a newline (truncated download?)", ErrFormat)
	}
	// The file is ASCII: a byte above 0x7f (in an entry, an attribute or a
	// comment) is refused, and the message does not quote it, so that it
	// cannot make a status file invalid JSON.
	for i, b := range data {
		if b >= 0x80 {
			line := 1 + bytes.Count(data[:i], []byte{'\n'})
			return nil, fmt.Errorf("%w: line %d: byte 0x%02x at offset %d is not ASCII; the INDEX is ASCII text", ErrFormat, line, b, i)
		}
	}
	ix := &Index{}
	// Split by hand: bufio.ScanLines would drop a '\r' before '\n', which a
	// shell `read` keeps, and both clients must read the same fields.
	lines := strings.Split(string(data[:len(data)-1]), "\n")
	lineNo, header := 0, false
	for _, line := range lines {
		lineNo++
		fail := func(format string, a ...any) error {
			return fmt.Errorf("%w: line %d: %s", ErrFormat, lineNo, fmt.Sprintf(format, a...))
		}
		if line == "" || line[0] == '#' {
			continue
		}
		if strings.ContainsAny(line, "\t\r") {
			return nil, fail("contains a tab or carriage return; fields are separated by single spaces")
		}
		fields := strings.Split(line, " ")
		for _, f := range fields {
			if f == "" {
				return nil, fail("empty field (double, leading or trailing space)")
			}
		}
		if !header {
			if fields[0] != Magic {
				return nil, fail("does not start with %q: not a fecdeploy INDEX", Magic)
			}
			if len(fields) < 2 {
				return nil, fail("header has no format version")
			}
			v, err := strconv.Atoi(fields[1])
			if err != nil || v != FormatVersion {
				return nil, fmt.Errorf("%w: header says %q, this client reads version %d", ErrVersion, fields[1], FormatVersion)
			}
			for _, kv := range fields[2:] {
				k, val, ok := strings.Cut(kv, "=")
				if !ok {
					return nil, fail("header attribute %q is not key=value", kv)
				}
				switch k {
				case "fec":
					ix.FEC = val
				case "arch":
					ix.Arch = val
				case SerialKey:
					n, err := parseDecimal("serial", val)
					if err != nil {
						return nil, fail("%v", err)
					}
					if n == 0 {
						return nil, fail("serial=0: serials start at 1 (omit serial= for none)")
					}
					ix.Serial = n
				case ExpiresKey:
					n, err := parseDecimal("expires", val)
					if err != nil {
						return nil, fail("%v", err)
					}
					if n > 1<<62/uint64(time.Second) {
						return nil, fail("expires %q is too far in the future", val)
					}
					ix.Expires = time.Unix(int64(n), 0).UTC()
				default:
					if err := checkAttr(k, val); err != nil {
						return nil, fail("%v", err)
					}
					if ix.Attrs == nil {
						ix.Attrs = map[string]string{}
					}
					ix.Attrs[k] = val
				}
			}
			header = true
			continue
		}
		if len(fields) < 5 {
			return nil, fail("entry has %d fields, want at least 5: kind name sha256 size path", len(fields))
		}
		e := Entry{Kind: Kind(fields[0]), Name: fields[1], SHA256: fields[2], Path: fields[4]}
		size, err := strconv.ParseInt(fields[3], 10, 64)
		if err != nil || fields[3] != strconv.FormatInt(size, 10) {
			return nil, fail("size %q is not a plain decimal number", fields[3])
		}
		e.Size = size
		for _, kv := range fields[5:] {
			k, val, hasVal := strings.Cut(kv, "=")
			switch {
			case k == "format" && hasVal:
				e.Format = Format(val)
			case k == "version" && hasVal:
				e.Version = val
			case k == "dev" && !hasVal:
				e.Dev = true
			default:
				if e.Attrs == nil {
					e.Attrs = map[string]string{}
				}
				e.Attrs[k] = val
			}
		}
		ix.Entries = append(ix.Entries, e)
	}
	if !header {
		return nil, fmt.Errorf("%w: no header line", ErrFormat)
	}
	if err := ix.Validate(); err != nil {
		return nil, err
	}
	return ix, nil
}

// Marshal returns the canonical bytes of the index: entries sorted, attributes
// in a fixed order, so the same content always gives the same bytes (and the
// same signature). It validates first.
func (ix *Index) Marshal() ([]byte, error) {
	c := *ix
	c.Entries = append([]Entry(nil), ix.Entries...)
	c.Sort()
	if err := c.Validate(); err != nil {
		return nil, err
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s %d fec=%s arch=%s", Magic, FormatVersion, c.FEC, c.Arch)
	if c.Serial != 0 {
		fmt.Fprintf(&b, " %s=%d", SerialKey, c.Serial)
	}
	if !c.Expires.IsZero() {
		fmt.Fprintf(&b, " %s=%d", ExpiresKey, c.Expires.Unix())
	}
	for _, k := range sortedKeys(c.Attrs) {
		fmt.Fprintf(&b, " %s=%s", k, c.Attrs[k])
	}
	b.WriteByte('\n')
	for _, e := range c.Entries {
		fmt.Fprintf(&b, "%s %s %s %d %s", e.Kind, e.Name, e.SHA256, e.Size, e.Path)
		if e.Format != "" {
			fmt.Fprintf(&b, " format=%s", e.Format)
		}
		if e.Version != "" {
			fmt.Fprintf(&b, " version=%s", e.Version)
		}
		if e.Dev {
			b.WriteString(" dev")
		}
		for _, k := range sortedKeys(e.Attrs) {
			if v := e.Attrs[k]; v != "" {
				fmt.Fprintf(&b, " %s=%s", k, v)
			} else {
				fmt.Fprintf(&b, " %s", k)
			}
		}
		b.WriteByte('\n')
	}
	if b.Len() > MaxSize {
		return nil, fmt.Errorf("%w: %d bytes, at most %d", ErrTooLarge, b.Len(), MaxSize)
	}
	return b.Bytes(), nil
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
