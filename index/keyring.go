package index

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
)

// The keyring lets a site rotate the online key that signs INDEX files
// without touching FEC images: FECs pin the (offline) root key; the storage
// serves keys/keyring, signed by the root key in keys/keyring.sig (raw
// ed25519, like INDEX.sig), naming the online keys. Format
// (docs/index-format.md, "Keyring"):
//
//	fecdeploy-keyring 1 serial=<n> expires=<unix seconds>
//	root <keyid> <base64 PKIX DER>     the keys that sign the next keyring
//	key <keyid> <base64 PKIX DER>      the keys that sign INDEX files
//	revoked <keyid>                    keys withdrawn (for the record)
//	reset <serial>                     a serial reset: the INDEX serial floor (optional, at most once)
//
// A key's base64 PKIX DER is exactly the body of its PEM "PUBLIC KEY"
// block, so a shell client writes a PEM file for openssl from one line.

// Keyring file names, below KeyringDir.
const (
	KeyringDir      = "keys"
	KeyringFile     = "keyring"
	KeyringSigFile  = "keyring.sig"
	KeyringMagic    = "fecdeploy-keyring"
	KeyringVersion  = 1
	KeyringLifetime = 365 * 24 * time.Hour // default expiry of a keyring
	// KeyringMaxSize bounds what a client reads.
	KeyringMaxSize = 64 << 10
)

// KeyringURLPath is where a FEC fetches the current keyring; the signature
// is at KeyringURLPath+".sig". Older keyrings (for a FEC that missed a root
// rotation) are at KeyringVersionURLPath(serial).
func KeyringURLPath() string { return KeyringDir + "/" + KeyringFile }

// KeyringVersionURLPath is the path of the keyring with that serial.
func KeyringVersionURLPath(serial uint64) string {
	return KeyringDir + "/" + KeyringFile + "." + strconv.FormatUint(serial, 10)
}

// Errors of the keyring; test with errors.Is.
var (
	ErrKeyring        = errors.New("index: malformed keyring")
	ErrKeyringSig     = errors.New("index: keyring signature does not verify with any trusted root key")
	ErrKeyringReplay  = errors.New("index: keyring is older than the one already accepted (replay)")
	ErrKeyringExpired = errors.New("index: keyring has expired")
)

// Keyring is a parsed keyring.
type Keyring struct {
	Serial  uint64
	Expires time.Time
	Roots   []ed25519.PublicKey // sign the next keyring; empty = the same root as this one
	Keys    []ed25519.PublicKey // sign INDEX files
	Revoked []string            // key ids
	// Reset, when not 0, is a serial reset (docs/security.md, "Serial
	// reset"): an INDEX serial the writer issued when the reset was made.
	// A FEC that has not applied this reset yet lowers the INDEX serial it
	// accepted to Reset when it is higher (ApplyReset). Later keyrings
	// carry it on, so that a FEC that was offline applies it too.
	Reset uint64
}

// KeyID is the short id of a public key: the first 8 bytes of the sha256 of
// its PKIX DER, in hex.
func KeyID(pub ed25519.PublicKey) string {
	der, _ := x509.MarshalPKIXPublicKey(pub)
	h := sha256.Sum256(der)
	return hex.EncodeToString(h[:8])
}

// PublicKeyPEM encodes a public key as PEM.
func PublicKeyPEM(pub ed25519.PublicKey) []byte {
	der, _ := x509.MarshalPKIXPublicKey(pub)
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

func encodeKey(pub ed25519.PublicKey) string {
	der, _ := x509.MarshalPKIXPublicKey(pub)
	return base64.StdEncoding.EncodeToString(der)
}

func decodeKey(id, b64 string) (ed25519.PublicKey, error) {
	der, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return nil, fmt.Errorf("key %s: %v", id, err)
	}
	k, err := x509.ParsePKIXPublicKey(der)
	if err != nil {
		return nil, fmt.Errorf("key %s: %v", id, err)
	}
	pub, ok := k.(ed25519.PublicKey)
	if !ok {
		return nil, fmt.Errorf("key %s is %T, want ed25519", id, k)
	}
	if KeyID(pub) != id {
		return nil, fmt.Errorf("key id %s does not match the key (%s)", id, KeyID(pub))
	}
	return pub, nil
}

// HasKey reports whether pub is one of the INDEX-signing keys.
func (k *Keyring) HasKey(pub ed25519.PublicKey) bool {
	for _, x := range k.Keys {
		if x.Equal(pub) {
			return true
		}
	}
	return false
}

// Marshal returns the canonical bytes (keys sorted by id).
func (k *Keyring) Marshal() ([]byte, error) {
	if k.Serial == 0 {
		return nil, fmt.Errorf("%w: serial is 0", ErrKeyring)
	}
	if k.Expires.Unix() <= 0 {
		return nil, fmt.Errorf("%w: no expiry", ErrKeyring)
	}
	if len(k.Keys) == 0 {
		return nil, fmt.Errorf("%w: no INDEX-signing key: a FEC could verify nothing", ErrKeyring)
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s %d %s=%d %s=%d\n", KeyringMagic, KeyringVersion, SerialKey, k.Serial, ExpiresKey, k.Expires.Unix())
	lines := func(kind string, keys []ed25519.PublicKey) {
		sorted := append([]ed25519.PublicKey(nil), keys...)
		sort.Slice(sorted, func(i, j int) bool { return KeyID(sorted[i]) < KeyID(sorted[j]) })
		for _, p := range sorted {
			fmt.Fprintf(&b, "%s %s %s\n", kind, KeyID(p), encodeKey(p))
		}
	}
	lines("root", k.Roots)
	lines("key", k.Keys)
	rev := append([]string(nil), k.Revoked...)
	sort.Strings(rev)
	for _, id := range rev {
		fmt.Fprintf(&b, "revoked %s\n", id)
	}
	if k.Reset > 0 {
		fmt.Fprintf(&b, "reset %d\n", k.Reset)
	}
	return b.Bytes(), nil
}

// ParseKeyring reads a keyring (after its signature was verified).
func ParseKeyring(data []byte) (*Keyring, error) {
	if len(data) > KeyringMaxSize {
		return nil, fmt.Errorf("%w: more than %d bytes", ErrKeyring, KeyringMaxSize)
	}
	if len(data) == 0 || data[len(data)-1] != '\n' {
		return nil, fmt.Errorf("%w: empty, or the last line does not end in a newline", ErrKeyring)
	}
	k := &Keyring{}
	for i, line := range strings.Split(string(data[:len(data)-1]), "\n") {
		fail := func(format string, a ...any) error {
			return fmt.Errorf("%w: line %d: %s", ErrKeyring, i+1, fmt.Sprintf(format, a...))
		}
		f := strings.Split(line, " ")
		if i == 0 {
			if len(f) != 4 || f[0] != KeyringMagic || f[1] != strconv.Itoa(KeyringVersion) {
				return nil, fail("want %q", KeyringMagic+" 1 serial=<n> expires=<unix seconds>")
			}
			s, ok1 := strings.CutPrefix(f[2], SerialKey+"=")
			e, ok2 := strings.CutPrefix(f[3], ExpiresKey+"=")
			if !ok1 || !ok2 {
				return nil, fail("want serial= then expires=")
			}
			var err error
			if k.Serial, err = parseDecimal("serial", s); err != nil || k.Serial == 0 {
				return nil, fail("bad serial %q", s)
			}
			n, err := parseDecimal("expires", e)
			if err != nil || n == 0 || n > 1<<62/uint64(time.Second) {
				return nil, fail("bad expires %q", e)
			}
			k.Expires = time.Unix(int64(n), 0).UTC()
			continue
		}
		switch {
		case len(f) == 3 && (f[0] == "root" || f[0] == "key"):
			pub, err := decodeKey(f[1], f[2])
			if err != nil {
				return nil, fail("%v", err)
			}
			if f[0] == "root" {
				k.Roots = append(k.Roots, pub)
			} else {
				k.Keys = append(k.Keys, pub)
			}
		case len(f) == 2 && f[0] == "revoked" && len(f[1]) == 16 && strings.Trim(f[1], "0123456789abcdef") == "":
			k.Revoked = append(k.Revoked, f[1])
		case len(f) == 2 && f[0] == "reset":
			n, err := parseDecimal("reset", f[1])
			if err != nil || n == 0 {
				return nil, fail("bad reset %q: want a serial above 0", f[1])
			}
			if k.Reset != 0 {
				return nil, fail("a second reset line")
			}
			k.Reset = n
		default:
			return nil, fail("want root|key <keyid> <base64>, revoked <keyid> or reset <serial>")
		}
	}
	if len(k.Keys) == 0 {
		return nil, fmt.Errorf("%w: no INDEX-signing key", ErrKeyring)
	}
	for _, id := range k.Revoked {
		for _, p := range k.Keys {
			if KeyID(p) == id {
				return nil, fmt.Errorf("%w: key %s is both listed and revoked", ErrKeyring, id)
			}
		}
	}
	return k, nil
}

// VerifyKeyring checks a keyring the way a FEC does: signed by one of the
// trusted root keys, parsed, serial not below accepted (the highest keyring
// serial this FEC accepted), not expired when the clock is sane. Nothing
// is parsed before the signature verifies.
func VerifyKeyring(data, sig []byte, roots []ed25519.PublicKey, accepted uint64, now time.Time, clockSane bool) (*Keyring, error) {
	if err := VerifySignature(data, sig, roots); err != nil {
		if errors.Is(err, ErrUnsigned) {
			return nil, fmt.Errorf("%w: its signature file is empty", ErrKeyringSig)
		}
		return nil, fmt.Errorf("%w (%d root keys tried)", ErrKeyringSig, len(roots))
	}
	k, err := ParseKeyring(data)
	if err != nil {
		return nil, err
	}
	if k.Serial < accepted {
		return nil, fmt.Errorf("%w: serial %d, this FEC already accepted serial %d", ErrKeyringReplay, k.Serial, accepted)
	}
	if clockSane && !now.Before(k.Expires) {
		return nil, fmt.Errorf("%w: it expired at %s (re-sign it with the root key: fecctl keyring resign)", ErrKeyringExpired, k.Expires.Format(time.RFC3339))
	}
	return k, nil
}

// ApplyReset applies a keyring's serial reset to a FEC's INDEX serial
// state: accepted is the highest INDEX serial the FEC accepted, applied the
// reset it applied last (0 = none). When k carries a reset above applied
// (one this FEC has not applied yet), the INDEX serial floor becomes
// min(accepted, k.Reset) and reset is true: the FEC then records the
// INDEX serial it accepts (even when lower than accepted) and k.Reset as
// its applied reset. Otherwise floor is accepted. Resets are serials the
// writer issued, so a newer reset is always higher than an older one, and
// a reset carried on by later keyrings is applied only once.
//
// The reset only lowers the floor; a FEC that never accepted a serial
// above the reset sees no change. A reset comes with new INDEX-signing
// keys (fecctl keyring reset-serial revokes all the others), so no INDEX
// signed before it, whatever its serial, verifies afterwards.
func ApplyReset(accepted, applied uint64, k *Keyring) (floor uint64, reset bool) {
	if k == nil || k.Reset == 0 || k.Reset <= applied {
		return accepted, false
	}
	return min(accepted, k.Reset), true
}

// NextRoots is the root key set that signs the keyring after k: k.Roots,
// or, when k names none, the roots that verified k.
func (k *Keyring) NextRoots(verifiedWith []ed25519.PublicKey) []ed25519.PublicKey {
	if len(k.Roots) > 0 {
		return k.Roots
	}
	return verifiedWith
}

// KeyringRotationsFile (below KeyringDir) lists, one decimal serial a line
// in increasing order, the keyrings that changed the root key set: each of
// them is served at KeyringVersionURLPath(serial) and signed by the roots
// before it. It is not signed: it only says what to fetch, and every file
// fetched is verified; a server that leaves one out only makes the FEC
// refuse the keyring, which it could do anyway.
const KeyringRotationsFile = "rotations"

// KeyringFetch returns a keyring file and its signature by URL path.
type KeyringFetch func(path string) (data, sig []byte, err error)

// WalkKeyrings brings a FEC from the roots it trusts to the current keyring:
// first every root rotation with a serial above accepted, in order (each
// verified with the roots trusted so far; the roots then become the ones
// it names), then the current keyring. It returns the current keyring and
// the roots to trust from now on (to be stored with the keyring serial
// only after the INDEX verified as well).
func WalkKeyrings(roots []ed25519.PublicKey, accepted uint64, rotations []uint64, now time.Time, clockSane bool, fetch KeyringFetch) (*Keyring, []ed25519.PublicKey, error) {
	last := uint64(0)
	for _, serial := range rotations {
		if serial <= last {
			return nil, nil, fmt.Errorf("%w: rotations list is not strictly increasing at %d", ErrKeyring, serial)
		}
		last = serial
		if serial <= accepted {
			continue
		}
		p := KeyringVersionURLPath(serial)
		data, sig, err := fetch(p)
		if err != nil {
			return nil, nil, fmt.Errorf("index: keyring rotation %s: %w", p, err)
		}
		// An old link of the chain may have expired long ago; only the
		// signature chain and the order matter for it.
		k, err := VerifyKeyring(data, sig, roots, accepted, now, false)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", p, err)
		}
		if k.Serial != serial {
			return nil, nil, fmt.Errorf("%w: %s says serial %d", ErrKeyring, p, k.Serial)
		}
		roots, accepted = k.NextRoots(roots), serial
	}
	data, sig, err := fetch(KeyringURLPath())
	if err != nil {
		return nil, nil, fmt.Errorf("index: keyring: %w", err)
	}
	k, err := VerifyKeyring(data, sig, roots, accepted, now, clockSane)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", KeyringURLPath(), err)
	}
	return k, k.NextRoots(roots), nil
}

// ParseRotations reads the rotations file.
func ParseRotations(data []byte) ([]uint64, error) {
	var out []uint64
	for _, l := range strings.Fields(string(data)) {
		n, err := parseDecimal("rotation serial", l)
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %v", ErrKeyring, KeyringRotationsFile, err)
		}
		out = append(out, n)
	}
	return out, nil
}
