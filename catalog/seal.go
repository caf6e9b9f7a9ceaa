package catalog

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// Sealer encrypts the secrets the catalog topic must carry for gateways
// to use them (SDK signing secrets) with the catalog key, a 32-byte key
// the catalog writer and the gateways share. AES-256-GCM; the additional
// data binds a sealed value to its project and key id, so it cannot be
// moved to another. Safe for concurrent use.
type Sealer struct{ aead cipher.AEAD }

// ParseCatalogKey reads a catalog key: 32 bytes as 64 hex digits or as
// standard or URL-safe base64.
func ParseCatalogKey(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	if b, err := hex.DecodeString(s); err == nil && len(b) == 32 {
		return b, nil
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil && len(b) == 32 {
			return b, nil
		}
	}
	return nil, errors.New("must be 32 bytes as 64 hex digits or base64")
}

// NewSealer returns a sealer for a 32-byte key.
func NewSealer(key []byte) (*Sealer, error) {
	if len(key) != 32 {
		return nil, fmt.Errorf("catalog key: %d bytes, want 32", len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &Sealer{aead: aead}, nil
}

// Seal encrypts secret for (projectID, keyID): base64url(nonce‖ciphertext).
func (s *Sealer) Seal(secret, projectID, keyID string) string {
	nonce := make([]byte, s.aead.NonceSize())
	_, _ = rand.Read(nonce)
	out := s.aead.Seal(nonce, nonce, []byte(secret), sealAD(projectID, keyID))
	return base64.RawURLEncoding.EncodeToString(out)
}

// Open decrypts a value Seal made for the same (projectID, keyID).
func (s *Sealer) Open(sealed, projectID, keyID string) (string, error) {
	b, err := base64.RawURLEncoding.DecodeString(sealed)
	if err != nil || len(b) < s.aead.NonceSize() {
		return "", errors.New("sealed secret is malformed")
	}
	n := s.aead.NonceSize()
	plain, err := s.aead.Open(nil, b[:n], b[n:], sealAD(projectID, keyID))
	if err != nil {
		return "", errors.New("sealed secret does not open with this catalog key")
	}
	return string(plain), nil
}

func sealAD(projectID, keyID string) []byte {
	return []byte("hazelnut-catalog-v1\x00" + projectID + "\x00" + keyID)
}
