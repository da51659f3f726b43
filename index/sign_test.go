package index

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/fair-acc/fecdeploy/internal/testenv"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func newKey(t *testing.T) (ed25519.PrivateKey, ed25519.PublicKey, []byte, []byte) {
	t.Helper()
	privPEM, pubPEM, err := GenerateKey()
	require.NoError(t, err)
	priv, err := ParsePrivateKey(privPEM)
	require.NoError(t, err)
	pubs, err := ParsePublicKeys(pubPEM)
	require.NoError(t, err)
	require.Len(t, pubs, 1)
	require.True(t, pubs[0].Equal(priv.Public()), "public key does not belong to the private key")
	return priv, pubs[0], privPEM, pubPEM
}

func TestSignVerify(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile("testdata/full.index")
	require.NoError(t, err)
	k1, p1, _, pub1PEM := newKey(t)
	_, p2, _, pub2PEM := newKey(t)
	sig := Sign(k1, data)
	require.Len(t, sig, ed25519.SignatureSize)
	assert.NoError(t, VerifySignature(data, sig, []ed25519.PublicKey{p1}), "good signature")
	assert.ErrorIs(t, VerifySignature(data, sig, []ed25519.PublicKey{p2}), ErrBadSignature, "wrong key")
	assert.ErrorIs(t, VerifySignature(data, sig, nil), ErrBadSignature, "no trusted keys")
	// Any single flipped bit of the INDEX or the signature is caught.
	for _, i := range []int{0, len(data) / 2, len(data) - 1} {
		bad := append([]byte(nil), data...)
		bad[i] ^= 1
		assert.ErrorIs(t, VerifySignature(bad, sig, []ed25519.PublicKey{p1}), ErrBadSignature, "tampered byte %d", i)
	}
	badSig := append([]byte(nil), sig...)
	badSig[10] ^= 0x80
	assert.ErrorIs(t, VerifySignature(data, badSig, []ed25519.PublicKey{p1}), ErrBadSignature, "tampered signature")
	assert.ErrorIs(t, VerifySignature(data, sig[:63], []ed25519.PublicKey{p1}), ErrBadSignature, "short signature")
	assert.ErrorIs(t, VerifySignature(data, nil, []ed25519.PublicKey{p1}), ErrUnsigned, "unsigned")

	// Rotation: a FEC trusting both keys accepts either signature.
	both, err := ParsePublicKeys(append(append([]byte(nil), pub2PEM...), pub1PEM...))
	require.NoError(t, err)
	require.Len(t, both, 2)
	assert.NoError(t, VerifySignature(data, sig, both), "old key during rotation")
}

func TestKeyParsing(t *testing.T) {
	t.Parallel()
	_, _, privPEM, pubPEM := newKey(t)
	_, err := ParsePrivateKey(pubPEM)
	assert.Error(t, err, "a public key read as private")
	_, err = ParsePrivateKey([]byte("not pem"))
	assert.Error(t, err, "garbage read as a private key")
	_, err = ParsePublicKeys(privPEM)
	assert.Error(t, err, "a private key read as public")
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	p8, err := x509.MarshalPKCS8PrivateKey(ec)
	require.NoError(t, err)
	_, err = ParsePrivateKey(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: p8}))
	assert.Error(t, err, "an ECDSA key accepted")
	pk, err := x509.MarshalPKIXPublicKey(&ec.PublicKey)
	require.NoError(t, err)
	_, err = ParsePublicKeys(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pk}))
	assert.Error(t, err, "an ECDSA public key accepted")
}

// TestOpenSSLInterop: what a busybox FEC does with openssl, both ways.
func TestOpenSSLInterop(t *testing.T) {
	t.Parallel()
	openssl := testenv.RequireTool(t, "openssl")
	dir := t.TempDir()
	data, err := os.ReadFile("testdata/full.index")
	require.NoError(t, err)
	priv, pub, privPEM, pubPEM := newKey(t)
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, b, 0o600))
		return p
	}
	idx := write("INDEX", data)
	sig := write("INDEX.sig", Sign(priv, data))
	pubFile := write("pub.pem", pubPEM)
	out, err := exec.Command(openssl, "pkeyutl", "-verify", "-pubin", "-inkey", pubFile, "-rawin", "-in", idx, "-sigfile", sig).CombinedOutput()
	require.NoError(t, err, "openssl does not verify our signature:\n%s", out)
	bad := write("INDEX.bad", append([]byte("#\n"), data...))
	out, err = exec.Command(openssl, "pkeyutl", "-verify", "-pubin", "-inkey", pubFile, "-rawin", "-in", bad, "-sigfile", sig).CombinedOutput()
	require.Error(t, err, "openssl verified a tampered INDEX:\n%s", out)
	// A signature made by openssl with our PEM key verifies here.
	keyFile := write("key.pem", privPEM)
	osig := filepath.Join(dir, "openssl.sig")
	out, err = exec.Command(openssl, "pkeyutl", "-sign", "-inkey", keyFile, "-rawin", "-in", idx, "-out", osig).CombinedOutput()
	require.NoError(t, err, "openssl sign:\n%s", out)
	s, err := os.ReadFile(osig)
	require.NoError(t, err)
	assert.NoError(t, VerifySignature(data, s, []ed25519.PublicKey{pub}), "openssl's signature")
}
