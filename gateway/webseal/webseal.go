// Package webseal opens the sealed envelope the web SDK may send to the
// web collector instead of a cleartext body:
//
//	{"lrv":1,"kid":"<key id>","epk":"<base64url>","iv":"<base64url>","ct":"<base64url>"}
//
// epk is the sender's ephemeral P-256 public key as a raw uncompressed
// point (65 bytes). The shared secret is ECDH(server private key, epk);
// the AES-256-GCM key is HKDF-SHA256(secret, salt empty, info
// "linkrunner-web-collect-v1:"+kid, 32 bytes); iv is the 12-byte nonce
// and ct the ciphertext followed by the 16-byte tag. There is no
// additional data. The plaintext is the cleartext JSON body.
//
// Seal is the client side, kept for tests and tools: it makes the same
// envelope a browser makes.
package webseal

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdh"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// Version is the only envelope version (lrv).
const Version = 1

// InfoPrefix is the HKDF info before the key id.
const InfoPrefix = "linkrunner-web-collect-v1:"

// Envelope is a sealed body.
type Envelope struct {
	LRV int    `json:"lrv"`
	KID string `json:"kid"`
	EPK string `json:"epk"`
	IV  string `json:"iv"`
	CT  string `json:"ct"`
}

// Errors Open returns, wrapped with detail.
var (
	ErrVersion = errors.New("unsupported envelope version")
	ErrKeyID   = errors.New("envelope key id does not match the key")
	ErrPoint   = errors.New("envelope epk is not a P-256 point")
	ErrField   = errors.New("envelope field is malformed")
	ErrOpen    = errors.New("envelope does not open with this key (bad tag)")
)

// IsEnvelope reports whether a JSON object body is an envelope: it has
// the key lrv.
func IsEnvelope(body []byte) bool {
	var probe map[string]json.RawMessage
	if err := json.Unmarshal(bytes.TrimSpace(body), &probe); err != nil {
		return false
	}
	_, ok := probe["lrv"]
	return ok
}

// Parse decodes an envelope body.
func Parse(body []byte) (Envelope, error) {
	var e Envelope
	if err := json.Unmarshal(bytes.TrimSpace(body), &e); err != nil {
		return e, fmt.Errorf("%w: %v", ErrField, err)
	}
	if e.LRV != Version {
		return e, fmt.Errorf("%w: lrv %d (want %d)", ErrVersion, e.LRV, Version)
	}
	if e.KID == "" {
		return e, fmt.Errorf("%w: kid is empty", ErrField)
	}
	return e, nil
}

// ParsePrivateKey reads a P-256 private key: the 32-byte scalar as
// base64 (URL-safe or standard, padded or not).
func ParsePrivateKey(s string) (*ecdh.PrivateKey, error) {
	s = strings.TrimSpace(s)
	for _, enc := range []*base64.Encoding{base64.RawURLEncoding, base64.URLEncoding, base64.RawStdEncoding, base64.StdEncoding} {
		b, err := enc.DecodeString(s)
		if err != nil {
			continue
		}
		if len(b) != 32 {
			return nil, fmt.Errorf("private key is %d bytes, want a 32-byte P-256 scalar", len(b))
		}
		k, err := ecdh.P256().NewPrivateKey(b)
		if err != nil {
			return nil, fmt.Errorf("private key is not a valid P-256 scalar: %v", err)
		}
		return k, nil
	}
	return nil, errors.New("private key must be a 32-byte P-256 scalar in base64")
}

// EncodePrivateKey is the base64url form ParsePrivateKey reads.
func EncodePrivateKey(k *ecdh.PrivateKey) string {
	return base64.RawURLEncoding.EncodeToString(k.Bytes())
}

// PublicKey is the base64url raw uncompressed point of k's public key
// (what a page configures as the SDK's public key).
func PublicKey(k *ecdh.PrivateKey) string {
	return base64.RawURLEncoding.EncodeToString(k.PublicKey().Bytes())
}

// GenerateKey makes a new private key.
func GenerateKey() (*ecdh.PrivateKey, error) { return ecdh.P256().GenerateKey(rand.Reader) }

func decode(name, s string, want int) ([]byte, error) {
	s = strings.TrimRight(strings.TrimSpace(s), "=")
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		// tolerate standard base64 as well
		b, err = base64.RawStdEncoding.DecodeString(s)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %s is not base64url", ErrField, name)
	}
	if want > 0 && len(b) != want {
		return nil, fmt.Errorf("%w: %s is %d bytes, want %d", ErrField, name, len(b), want)
	}
	return b, nil
}

func aead(shared []byte, kid string) (cipher.AEAD, error) {
	key, err := hkdf.Key(sha256.New, shared, nil, InfoPrefix+kid, 32)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// Open decrypts env with the private key whose id is kid and returns the
// cleartext body.
func Open(env Envelope, priv *ecdh.PrivateKey, kid string) ([]byte, error) {
	if env.LRV != Version {
		return nil, fmt.Errorf("%w: lrv %d (want %d)", ErrVersion, env.LRV, Version)
	}
	if env.KID != kid {
		return nil, fmt.Errorf("%w: envelope names %q, key is %q", ErrKeyID, env.KID, kid)
	}
	if priv == nil {
		return nil, errors.New("no private key")
	}
	epkRaw, err := decode("epk", env.EPK, 65)
	if err != nil {
		return nil, err
	}
	epk, err := ecdh.P256().NewPublicKey(epkRaw)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrPoint, err)
	}
	iv, err := decode("iv", env.IV, 12)
	if err != nil {
		return nil, err
	}
	ct, err := decode("ct", env.CT, 0)
	if err != nil {
		return nil, err
	}
	if len(ct) < 16 {
		return nil, fmt.Errorf("%w: ct is %d bytes, shorter than the 16-byte tag", ErrField, len(ct))
	}
	shared, err := priv.ECDH(epk)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrPoint, err)
	}
	a, err := aead(shared, kid)
	if err != nil {
		return nil, err
	}
	plain, err := a.Open(nil, iv, ct, nil)
	if err != nil {
		return nil, ErrOpen
	}
	return plain, nil
}

// Seal makes an envelope of plaintext for the server public key pub
// (raw uncompressed point) and key id kid, as the web SDK does: a fresh
// ephemeral key and a random iv.
func Seal(plaintext []byte, pub *ecdh.PublicKey, kid string) (Envelope, error) {
	eph, err := ecdh.P256().GenerateKey(rand.Reader)
	if err != nil {
		return Envelope{}, err
	}
	iv := make([]byte, 12)
	if _, err := rand.Read(iv); err != nil {
		return Envelope{}, err
	}
	return SealWith(plaintext, pub, kid, eph, iv)
}

// SealWith is Seal with a given ephemeral key and iv (test vectors).
func SealWith(plaintext []byte, pub *ecdh.PublicKey, kid string, eph *ecdh.PrivateKey, iv []byte) (Envelope, error) {
	if len(iv) != 12 {
		return Envelope{}, fmt.Errorf("iv is %d bytes, want 12", len(iv))
	}
	shared, err := eph.ECDH(pub)
	if err != nil {
		return Envelope{}, err
	}
	a, err := aead(shared, kid)
	if err != nil {
		return Envelope{}, err
	}
	enc := base64.RawURLEncoding
	return Envelope{LRV: Version, KID: kid, EPK: enc.EncodeToString(eph.PublicKey().Bytes()),
		IV: enc.EncodeToString(iv), CT: enc.EncodeToString(a.Seal(nil, iv, plaintext, nil))}, nil
}
