package archive

import (
	"bytes"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// Limits of extension headers, busybox tar's: a PAX header larger than this
// is skipped with a warning, a GNU long name larger than this aborts.
const (
	maxPAXHeader  = 0xfffff
	maxGNULongHdr = 0xfff
)

// layout walks the tar stream's 512-byte blocks as they pass to the tar
// reader, the way busybox tar walks them (ustar size field, data skipped
// per type), and refuses what busybox tar and Go's archive/tar would read
// differently, so that both boot clients install the same tree:
//
//   - PAX extended headers ('x') may carry only "path" and "linkpath"
//     records with a value: busybox honours nothing else (not "size", not
//     the GNU.sparse.* records of sparse files, not times or owners), so
//     any other record would make the shell client see other entries or
//     other contents than the Go client. The records must be well-formed
//     ("LEN key=value\n", LEN without leading zeros), at most 1 MiB;
//   - PAX global headers ('g') are refused (busybox ignores them);
//   - an entry has at most one extension header of each kind, and never a
//     PAX header together with a GNU long name or link ('L', 'K'): the
//     two readers apply such combinations in a different order; a GNU
//     long name or link is at most 4 KiB and not empty;
//   - no header without a name (busybox takes it for the end of the
//     archive and goes on), no single zero block inside the archive;
//   - the prefix field is only used in plain ustar headers (Go ignores it
//     in GNU and star headers, busybox does not);
//   - link, symlink, device, directory and FIFO headers have size 0.
//
// The writer (Pack, Go's archive/tar) produces only PAX headers with path
// and linkpath, for names and link targets too long for the ustar fields;
// busybox tar -c (fec-persist on a FEC) produces GNU long names. Both
// pass. fec-boot.sh applies the same rules (check_layout).
type layout struct {
	r   io.Reader
	blk [512]byte
	n   int // bytes of blk filled

	skip    int64 // data bytes (with padding) before the next header
	ext     []byte
	extType byte
	extName string
	extSize int64 // size of the extension header's data
	extLeft int64 // data bytes (with padding) still to read

	pendX, pendL, pendK bool
	pendPath            string // the path a pending PAX header or long name gives
	zeros               int    // consecutive zero blocks
	ended               bool
	err                 error
}

func (l *layout) Read(p []byte) (int, error) {
	if l.err != nil {
		return 0, l.err
	}
	n, err := l.r.Read(p)
	l.feed(p[:n])
	if l.err != nil {
		return 0, l.err
	}
	return n, err
}

func (l *layout) fail(name, format string, a ...any) {
	if l.err == nil {
		l.err = unsafeEntry(name, format, a...)
	}
}

func (l *layout) feed(b []byte) {
	for len(b) > 0 && l.err == nil && !l.ended {
		switch {
		case l.skip > 0:
			k := int64(len(b))
			if k > l.skip {
				k = l.skip
			}
			l.skip -= k
			b = b[k:]
		case l.extLeft > 0:
			k := int64(len(b))
			if k > l.extLeft {
				k = l.extLeft
			}
			if want := l.extSize - int64(len(l.ext)); want > 0 {
				l.ext = append(l.ext, b[:min(k, want)]...)
				// Checked as soon as the data is in, before the tar
				// reader acts on it.
				if int64(len(l.ext)) == l.extSize {
					l.extDone()
				}
			}
			l.extLeft -= k
			b = b[k:]
		default:
			k := copy(l.blk[l.n:], b)
			l.n += k
			b = b[k:]
			if l.n == len(l.blk) {
				l.n = 0
				l.header()
			}
		}
	}
}

func blocks(size int64) int64 { return (size + 511) &^ 511 }

func cstr(b []byte) string {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	return string(b)
}

// octal parses a ustar number field strictly: optional leading spaces,
// octal digits, then only NULs and spaces.
func octal(f []byte) (int64, bool) {
	i := 0
	for i < len(f) && f[i] == ' ' {
		i++
	}
	j := i
	for j < len(f) && f[j] >= '0' && f[j] <= '7' {
		j++
	}
	if j == i {
		return 0, false
	}
	for _, c := range f[j:] {
		if c != 0 && c != ' ' {
			return 0, false
		}
	}
	v, err := strconv.ParseInt(string(f[i:j]), 8, 64)
	return v, err == nil
}

func (l *layout) header() {
	b := l.blk[:]
	if bytes.Equal(b, zeroBlock[:]) {
		l.zeros++
		if l.pendX || l.pendL || l.pendK {
			l.fail(l.extName, "an extension header with no entry after it")
			return
		}
		if l.zeros == 2 {
			l.ended = true
		}
		return
	}
	if l.zeros > 0 {
		l.fail("", "a single zero block inside the archive (busybox tar skips it, Go's reader stops); the tar is damaged")
		return
	}
	name := cstr(b[0:100])
	magic := string(b[257:263])
	prefix := cstr(b[345:500])
	typ := b[156]
	full := name
	if prefix != "" {
		full = prefix + "/" + name
		if magic != "ustar\x00" || string(b[508:512]) == "tar\x00" {
			l.fail(full, "the prefix field is set in a non-ustar header (busybox and Go's reader read the name differently)")
			return
		}
	}
	if l.pendPath != "" {
		full = l.pendPath
	}
	if name == "" && prefix == "" && !l.pendL {
		l.fail(full, "a header without a name (busybox tar takes it for the end of the archive and reads on)")
		return
	}
	size, ok := octal(b[124:136])
	if !ok {
		l.fail(full, "the size field is not an octal number")
		return
	}
	switch typ {
	case 'x':
		if l.pendX || l.pendL || l.pendK {
			l.fail(full, "more than one extension header for one entry")
			return
		}
		if size > maxPAXHeader {
			l.fail(full, "a PAX header of %d bytes (at most %d)", size, maxPAXHeader)
			return
		}
		l.startExt(typ, full, size)
	case 'L', 'K':
		if l.pendX || typ == 'L' && l.pendL || typ == 'K' && l.pendK {
			l.fail(full, "more than one extension header for one entry")
			return
		}
		if size > maxGNULongHdr || size == 0 {
			l.fail(full, "a GNU long name or link of %d bytes (1 to %d)", size, maxGNULongHdr)
			return
		}
		l.startExt(typ, full, size)
	case 'g':
		l.fail(full, "a PAX global header; busybox tar ignores it, so the two boot clients would read the archive differently")
	default:
		// An entry. Types 1-6 carry no data for either reader; others
		// (regular files, and types the extractor refuses) do.
		l.pendX, l.pendL, l.pendK, l.pendPath = false, false, false, ""
		if typ >= '1' && typ <= '6' {
			if size != 0 {
				l.fail(full, "a %s header with a size of %d bytes (both readers take it for 0: what follows would be read as headers)", typeWord(typ), size)
			}
			return
		}
		l.skip = blocks(size)
	}
}

func (l *layout) startExt(typ byte, name string, size int64) {
	l.extType, l.extName, l.extSize, l.ext = typ, name, size, l.ext[:0]
	l.extLeft = blocks(size)
	if size == 0 {
		l.extDone()
	}
}

func (l *layout) extDone() {
	switch l.extType {
	case 'L', 'K':
		v := cstr(l.ext)
		if v == "" {
			l.fail(l.extName, "an empty GNU long name or link")
			return
		}
		if l.extType == 'L' {
			l.pendL, l.pendPath = true, v
		} else {
			l.pendK = true
		}
	case 'x':
		path, err := checkPAXRecords(l.ext)
		if err != "" {
			n := l.extName
			if path != "" {
				n = path
			}
			l.fail(n, "%s", err)
			return
		}
		l.pendX = true
		if path != "" {
			l.pendPath = path
		}
	}
}

// checkPAXRecords returns the path record (if any) and, when a record is
// not acceptable, why.
func checkPAXRecords(data []byte) (path, why string) {
	s := string(data)
	seen := map[string]bool{}
	for s != "" {
		sp := strings.IndexByte(s, ' ')
		if sp <= 0 || s[0] == '0' || strings.Trim(s[:sp], "0123456789") != "" {
			return path, "a malformed PAX record"
		}
		n, err := strconv.Atoi(s[:sp])
		if err != nil || n <= sp+1 || n > len(s) || s[n-1] != '\n' {
			return path, "a malformed PAX record"
		}
		kv := s[sp+1 : n-1]
		s = s[n:]
		k, v, ok := strings.Cut(kv, "=")
		if !ok || strings.IndexByte(kv, 0) >= 0 {
			return path, "a malformed PAX record"
		}
		switch {
		case k == "path" || k == "linkpath":
			if v == "" {
				return path, fmt.Sprintf("an empty PAX %q record (Go's reader keeps the ustar field, busybox tar takes the empty value)", k)
			}
			if seen[k] {
				return path, fmt.Sprintf("the PAX record %q twice", k)
			}
			seen[k] = true
			if k == "path" {
				path = v
			}
		case strings.HasPrefix(k, "GNU.sparse."):
			return path, fmt.Sprintf("a sparse file (PAX record %q); sparse files are refused (busybox tar would install the sparse map as content)", k)
		default:
			return path, fmt.Sprintf("the PAX record %q, which busybox tar ignores (only path and linkpath are honoured): the two boot clients would install different trees; the writer never makes it", k)
		}
	}
	return path, ""
}

var zeroBlock [512]byte

func typeWord(t byte) string {
	return map[byte]string{'1': "hardlink", '2': "symlink", '3': "character device", '4': "block device", '5': "directory", '6': "FIFO"}[t]
}
