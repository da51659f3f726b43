package index

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/fair-acc/fecdeploy/internal/testenv"
)

func newKey(t *testing.T) (ed25519.PrivateKey, ed25519.PublicKey, []byte, []byte) {
	t.Helper()
	privPEM, pubPEM, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	priv, err := ParsePrivateKey(privPEM)
	if err != nil {
		t.Fatal(err)
	}
	pubs, err := ParsePublicKeys(pubPEM)
	if err != nil || len(pubs) != 1 {
		t.Fatalf("%v %d", err, len(pubs))
	}
	if !pubs[0].Equal(priv.Public()) {
		t.Fatal("public key does not belong to the private key")
	}
	return priv, pubs[0], privPEM, pubPEM
}

func TestSignVerify(t *testing.T) {
	data, err := os.ReadFile("testdata/full.index")
	if err != nil {
		t.Fatal(err)
	}
	k1, p1, _, pub1PEM := newKey(t)
	_, p2, _, pub2PEM := newKey(t)
	sig := Sign(k1, data)
	if len(sig) != ed25519.SignatureSize {
		t.Fatalf("signature is %d bytes", len(sig))
	}
	if err := VerifySignature(data, sig, []ed25519.PublicKey{p1}); err != nil {
		t.Errorf("good signature: %v", err)
	}
	if err := VerifySignature(data, sig, []ed25519.PublicKey{p2}); !errors.Is(err, ErrBadSignature) {
		t.Errorf("wrong key: %v", err)
	}
	if err := VerifySignature(data, sig, nil); !errors.Is(err, ErrBadSignature) {
		t.Errorf("no trusted keys: %v", err)
	}
	// Any single flipped bit of the INDEX or the signature is caught.
	for _, i := range []int{0, len(data) / 2, len(data) - 1} {
		bad := append([]byte(nil), data...)
		bad[i] ^= 1
		if err := VerifySignature(bad, sig, []ed25519.PublicKey{p1}); !errors.Is(err, ErrBadSignature) {
			t.Errorf("tampered byte %d: %v", i, err)
		}
	}
	badSig := append([]byte(nil), sig...)
	badSig[10] ^= 0x80
	if err := VerifySignature(data, badSig, []ed25519.PublicKey{p1}); !errors.Is(err, ErrBadSignature) {
		t.Errorf("tampered signature: %v", err)
	}
	if err := VerifySignature(data, sig[:63], []ed25519.PublicKey{p1}); !errors.Is(err, ErrBadSignature) {
		t.Errorf("short signature: %v", err)
	}
	if err := VerifySignature(data, nil, []ed25519.PublicKey{p1}); !errors.Is(err, ErrUnsigned) {
		t.Errorf("unsigned: %v", err)
	}

	// Rotation: a FEC trusting both keys accepts either signature.
	both, err := ParsePublicKeys(append(append([]byte(nil), pub2PEM...), pub1PEM...))
	if err != nil || len(both) != 2 {
		t.Fatalf("two keys: %v %d", err, len(both))
	}
	if err := VerifySignature(data, sig, both); err != nil {
		t.Errorf("old key during rotation: %v", err)
	}
}

func TestKeyParsing(t *testing.T) {
	_, _, privPEM, pubPEM := newKey(t)
	if _, err := ParsePrivateKey(pubPEM); err == nil {
		t.Error("a public key read as private")
	}
	if _, err := ParsePrivateKey([]byte("not pem")); err == nil {
		t.Error("garbage read as a private key")
	}
	if _, err := ParsePublicKeys(privPEM); err == nil {
		t.Error("a private key read as public")
	}
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	p8, _ := x509.MarshalPKCS8PrivateKey(ec)
	if _, err := ParsePrivateKey(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: p8})); err == nil {
		t.Error("an ECDSA key accepted")
	}
	pk, _ := x509.MarshalPKIXPublicKey(&ec.PublicKey)
	if _, err := ParsePublicKeys(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pk})); err == nil {
		t.Error("an ECDSA public key accepted")
	}
}

// TestOpenSSLInterop: what a busybox FEC does with openssl, both ways.
func TestOpenSSLInterop(t *testing.T) {
	openssl := testenv.RequireTool(t, "openssl")
	dir := t.TempDir()
	data, _ := os.ReadFile("testdata/full.index")
	priv, pub, privPEM, pubPEM := newKey(t)
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	idx := write("INDEX", data)
	sig := write("INDEX.sig", Sign(priv, data))
	pubFile := write("pub.pem", pubPEM)
	out, err := exec.Command(openssl, "pkeyutl", "-verify", "-pubin", "-inkey", pubFile, "-rawin", "-in", idx, "-sigfile", sig).CombinedOutput()
	if err != nil {
		t.Fatalf("openssl does not verify our signature: %v\n%s", err, out)
	}
	bad := write("INDEX.bad", append([]byte("#\n"), data...))
	if out, err := exec.Command(openssl, "pkeyutl", "-verify", "-pubin", "-inkey", pubFile, "-rawin", "-in", bad, "-sigfile", sig).CombinedOutput(); err == nil {
		t.Fatalf("openssl verified a tampered INDEX:\n%s", out)
	}
	// A signature made by openssl with our PEM key verifies here.
	keyFile := write("key.pem", privPEM)
	osig := filepath.Join(dir, "openssl.sig")
	if out, err := exec.Command(openssl, "pkeyutl", "-sign", "-inkey", keyFile, "-rawin", "-in", idx, "-out", osig).CombinedOutput(); err != nil {
		t.Fatalf("openssl sign: %v\n%s", err, out)
	}
	s, _ := os.ReadFile(osig)
	if err := VerifySignature(data, s, []ed25519.PublicKey{pub}); err != nil {
		t.Errorf("openssl's signature: %v", err)
	}
}
