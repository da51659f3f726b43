package index

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"fmt"
)

// The signature file INDEX.sig holds the raw 64-byte ed25519 signature over
// the exact bytes of INDEX, so that `openssl pkeyutl -verify -rawin` on a
// busybox FEC checks it without any conversion. Keys are PEM: PKCS#8
// "PRIVATE KEY" and PKIX "PUBLIC KEY", the forms openssl reads and writes.

// GenerateKey returns a new ed25519 key pair as PEM.
func GenerateKey() (privPEM, pubPEM []byte, err error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("index: generating key: %w", err)
	}
	p8, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, nil, fmt.Errorf("index: encoding private key: %w", err)
	}
	pk, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, nil, fmt.Errorf("index: encoding public key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: p8}),
		pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pk}), nil
}

// ParsePrivateKey reads a PEM PKCS#8 ed25519 private key.
func ParsePrivateKey(data []byte) (ed25519.PrivateKey, error) {
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "PRIVATE KEY" {
		return nil, fmt.Errorf("index: no PEM \"PRIVATE KEY\" block found")
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("index: parsing private key: %w", err)
	}
	priv, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("index: private key is %T, want ed25519", k)
	}
	return priv, nil
}

// ParsePublicKeys reads one or more PEM "PUBLIC KEY" blocks (several trusted
// keys allow rotation: sign with the new key once every FEC trusts both).
func ParsePublicKeys(data []byte) ([]ed25519.PublicKey, error) {
	var keys []ed25519.PublicKey
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			break
		}
		if block.Type != "PUBLIC KEY" {
			continue
		}
		k, err := x509.ParsePKIXPublicKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("index: parsing public key: %w", err)
		}
		pub, ok := k.(ed25519.PublicKey)
		if !ok {
			return nil, fmt.Errorf("index: public key is %T, want ed25519", k)
		}
		keys = append(keys, pub)
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("index: no PEM \"PUBLIC KEY\" block found")
	}
	return keys, nil
}

// Sign returns the detached signature over data (the exact INDEX bytes).
func Sign(priv ed25519.PrivateKey, data []byte) []byte {
	return ed25519.Sign(priv, data)
}

// VerifySignature checks sig over data against the trusted keys. A missing
// signature gives ErrUnsigned, a wrong one ErrBadSignature. Call it before
// Parse: an INDEX that does not verify is never parsed.
func VerifySignature(data, sig []byte, trusted []ed25519.PublicKey) error {
	if len(sig) == 0 {
		return ErrUnsigned
	}
	if len(sig) != ed25519.SignatureSize {
		return fmt.Errorf("%w: signature is %d bytes, want %d", ErrBadSignature, len(sig), ed25519.SignatureSize)
	}
	for _, k := range trusted {
		if ed25519.Verify(k, data, sig) {
			return nil
		}
	}
	return fmt.Errorf("%w (%d keys tried)", ErrBadSignature, len(trusted))
}
