package conformance

import (
	"crypto/ed25519"
	"testing"
	"time"

	"github.com/fair-acc/fecdeploy/client/clienttest"
	"github.com/fair-acc/fecdeploy/index"
)

// ring writes a keyring (at rel below the step's storage) signed by signer.
func ring(rel string, k index.Keyring, signer ed25519.PrivateKey) func(*testing.T, *Storage, string) {
	return func(t *testing.T, st *Storage, _ string) {
		data, err := k.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		st.WriteRaw(t, rel, data)
		st.WriteRaw(t, rel+".sig", index.Sign(signer, data))
	}
}

// rawFile writes a file into the step's storage.
func rawFile(rel, body string) func(*testing.T, *Storage, string) {
	return func(t *testing.T, st *Storage, _ string) { st.WriteRaw(t, rel, []byte(body)) }
}

// servedAs puts the INDEX of another FEC, validly signed and fresh, at this
// FEC's URL (a server that swaps FECs).
func servedAs(priv ed25519.PrivateKey, serial uint64, fns ...func(*testing.T, *Storage, string)) func(*testing.T, *Storage, string) {
	return func(t *testing.T, st *Storage, fec string) {
		other := fec + "-other"
		for _, f := range fns {
			f(t, st, other)
		}
		ix := st.Index(other)
		ix.Serial, ix.Expires = serial, week
		data := st.WriteIndex(t, other, priv)
		st.WriteRaw(t, index.IndexURLPath(fec), data)
		st.WriteRaw(t, index.SigURLPath(fec), index.Sign(priv, data))
	}
}

func keys(ks ...clienttest.Key) []ed25519.PublicKey {
	out := make([]ed25519.PublicKey, len(ks))
	for i, k := range ks {
		out[i] = k.Public
	}
	return out
}

// TestConformanceTrust: replay, keys and keyring. Every refusal leaves the
// installed software and the state files as they were, and both clients
// say why in the same words.
func TestConformanceTrust(t *testing.T) {
	t.Parallel()
	st := clienttest.NewStorage(t)
	foo1 := software("Foo_DU", "1.2.0", map[string]string{"bin/Foo_DU": "ELF 1.2.0"})
	foo2 := software("Foo_DU", "1.3.0", map[string]string{"bin/Foo_DU": "ELF 1.3.0"})
	r1, r2, r3, unknown := clienttest.NewKey(t), clienttest.NewKey(t), clienttest.NewKey(t), clienttest.NewKey(t)
	on1, on2 := clienttest.NewKey(t), clienttest.NewKey(t)
	pinned := options{rootKeys: clienttest.KeyFile(t, r1)}
	year := time.Now().Add(365 * 24 * time.Hour)
	expired := time.Now().Add(-time.Hour)
	kr := func(serial uint64, ks ...clienttest.Key) index.Keyring {
		return index.Keyring{Serial: serial, Expires: year, Keys: keys(ks...)}
	}
	revoking := func(k index.Keyring, ids ...clienttest.Key) index.Keyring {
		for _, id := range ids {
			k.Revoked = append(k.Revoked, index.KeyID(id.Public))
		}
		return k
	}
	handover := func(k index.Keyring, to clienttest.Key, exp time.Time) index.Keyring {
		k.Roots, k.Expires = keys(to), exp
		return k
	}
	withReset := func(k index.Keyring, reset uint64) index.Keyring { k.Reset = reset; return k }
	const huge = 9999999999999999999
	badRoot := "keyring signature does not verify with any trusted root key"
	badKey := "INDEX signature does not verify with any trusted key"
	replay := "this FEC already accepted serial"

	scenarios := []scenario{
		// An INDEX validly signed for another FEC, served at this FEC's URL.
		{name: "wrong-fec", want: []int{0, 4}, keys: clienttest.KeyFile(t, on1), refused: map[int]string{1: `is for FEC`},
			steps: []func(*testing.T, *Storage, string){
				fresh(on1.Private, 100, week, foo1),
				servedAs(on1.Private, 200, foo2),
			}},
		{name: "wrong-fec-keyring", own: true, opts: pinned, want: []int{0, 4}, refused: map[int]string{1: `is for FEC`},
			steps: []func(*testing.T, *Storage, string){
				steps2(ring("keys/keyring", kr(10, on1), r1.Private), fresh(on1.Private, 100, week, foo1)),
				steps2(ring("keys/keyring", kr(10, on1), r1.Private), servedAs(on1.Private, 200, foo2)),
			}},
		// A FEC offline across two root rotations (r1 -> r2 -> r3) walks the
		// chain; the links may have expired long ago. Afterwards the old
		// root counts no more.
		{name: "keyring-chain", own: true, opts: pinned, want: []int{0, 0, 4}, refused: map[int]string{2: badRoot},
			steps: []func(*testing.T, *Storage, string){
				steps2(ring("keys/keyring", kr(10, on1), r1.Private), fresh(on1.Private, 100, week, foo1)),
				steps2(ring("keys/keyring.40", handover(kr(40, on1), r2, expired), r1.Private),
					ring("keys/keyring.50", handover(kr(50, on2), r3, expired), r2.Private),
					ring("keys/keyring", kr(60, on2), r3.Private), rawFile("keys/rotations", "40\n50\n"),
					fresh(on2.Private, 200, week, foo2)),
				steps2(ring("keys/keyring", kr(70, on1), r1.Private), fresh(on1.Private, 300, week, foo1)),
			}},
		// The online key on1 is revoked: an INDEX it signs is refused (the
		// keyring is not recorded either), one signed by on2 accepted.
		{name: "revoked-key", own: true, opts: pinned, want: []int{0, 4, 0}, refused: map[int]string{1: badKey},
			steps: []func(*testing.T, *Storage, string){
				steps2(ring("keys/keyring", kr(10, on1, on2), r1.Private), fresh(on1.Private, 100, week, foo1)),
				steps2(ring("keys/keyring", revoking(kr(20, on2), on1), r1.Private), fresh(on1.Private, 200, week, foo2)),
				steps2(ring("keys/keyring", revoking(kr(20, on2), on1), r1.Private), fresh(on2.Private, 300, week, foo2)),
			}},
		{name: "keyring-unknown-signer", own: true, opts: pinned, want: []int{0, 4}, refused: map[int]string{1: badRoot},
			steps: []func(*testing.T, *Storage, string){
				steps2(ring("keys/keyring", kr(10, on1), r1.Private), fresh(on1.Private, 100, week, foo1)),
				steps2(ring("keys/keyring", kr(20, unknown), unknown.Private), fresh(unknown.Private, 200, week, foo2)),
			}},
		{name: "keyring-first-unknown-signer", own: true, opts: pinned, want: []int{4}, refused: map[int]string{0: badRoot},
			steps: []func(*testing.T, *Storage, string){
				steps2(ring("keys/keyring", kr(10, on1), unknown.Private), fresh(on1.Private, 100, week, foo1)),
			}},
		{name: "keyring-replay", own: true, opts: pinned, want: []int{0, 4}, refused: map[int]string{1: "keyring is older than the one already accepted"},
			steps: []func(*testing.T, *Storage, string){
				steps2(ring("keys/keyring", kr(20, on1), r1.Private), fresh(on1.Private, 100, week, foo1)),
				steps2(ring("keys/keyring", kr(10, on1), r1.Private), fresh(on1.Private, 200, week, foo2)),
			}},
		{name: "keyring-expired", own: true, opts: pinned, want: []int{4}, refused: map[int]string{0: "keyring has expired"},
			steps: []func(*testing.T, *Storage, string){
				steps2(ring("keys/keyring", index.Keyring{Serial: 10, Expires: expired, Keys: keys(on1)}, r1.Private), fresh(on1.Private, 100, week, foo1)),
			}},
		// A leaked key signed a huge serial and the FECs accepted it. The
		// writer's next INDEX is a replay to them until the root holder
		// names a serial reset (with a new online key); the reset is applied
		// once: afterwards a serial below the accepted one is a replay again.
		{name: "serial-reset", own: true, opts: pinned, want: []int{0, 4, 0, 4}, refused: map[int]string{1: replay, 3: replay},
			steps: []func(*testing.T, *Storage, string){
				steps2(ring("keys/keyring", kr(10, on1), r1.Private), fresh(on1.Private, huge, week, foo1)),
				steps2(ring("keys/keyring", revoking(kr(20, on2), on1), r1.Private), fresh(on2.Private, 1001, week, foo2)),
				steps2(ring("keys/keyring", withReset(revoking(kr(30, on2), on1), 1000), r1.Private), fresh(on2.Private, 1001, week, foo2)),
				steps2(ring("keys/keyring", withReset(revoking(kr(40, on2), on1), 1000), r1.Private), fresh(on2.Private, 1000, week, foo1)),
			}},
	}
	runScenarios(t, scenarios, st)
}

// steps2 runs the step functions in order (their last one writes the INDEX).
func steps2(fns ...func(*testing.T, *Storage, string)) func(*testing.T, *Storage, string) {
	return func(t *testing.T, st *Storage, fec string) {
		for _, f := range fns {
			f(t, st, fec)
		}
	}
}
