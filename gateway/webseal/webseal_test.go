package webseal

import (
	"crypto/ecdh"
	"encoding/base64"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"
)

type vector struct {
	ServerPrivateKey    string   `json:"server_private_key"`
	ServerPublicKey     string   `json:"server_public_key"`
	EphemeralPrivateKey string   `json:"ephemeral_private_key"`
	KeyID               string   `json:"key_id"`
	Plaintext           string   `json:"plaintext"`
	Envelope            Envelope `json:"envelope"`
}

func loadVector(t *testing.T) vector {
	t.Helper()
	b, err := os.ReadFile("testdata/vector-python.json")
	if err != nil {
		t.Fatal(err)
	}
	var v vector
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	return v
}

// TestIndependentVector opens an envelope made by another implementation
// and makes the same bytes from the same ephemeral key and iv.
func TestIndependentVector(t *testing.T) {
	v := loadVector(t)
	priv, err := ParsePrivateKey(v.ServerPrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	if got := PublicKey(priv); got != v.ServerPublicKey {
		t.Errorf("public key %s, want %s", got, v.ServerPublicKey)
	}
	plain, err := Open(v.Envelope, priv, v.KeyID)
	if err != nil {
		t.Fatal(err)
	}
	if string(plain) != v.Plaintext {
		t.Errorf("plaintext %s, want %s", plain, v.Plaintext)
	}
	eph, err := ParsePrivateKey(v.EphemeralPrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	iv, _ := base64.RawURLEncoding.DecodeString(v.Envelope.IV)
	env, err := SealWith([]byte(v.Plaintext), priv.PublicKey(), v.KeyID, eph, iv)
	if err != nil {
		t.Fatal(err)
	}
	if env != v.Envelope {
		t.Errorf("sealed\n%+v\nwant\n%+v", env, v.Envelope)
	}
}

func TestRoundTrip(t *testing.T) {
	priv, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	body := []byte(`{"token":"T","event_type":"page_view"}`)
	env, err := Seal(body, priv.PublicKey(), "k1")
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := json.Marshal(env)
	if !IsEnvelope(raw) || IsEnvelope(body) {
		t.Fatal("IsEnvelope does not tell an envelope from a body")
	}
	parsed, err := Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Open(parsed, priv, "k1")
	if err != nil || string(got) != string(body) {
		t.Fatalf("Open = %s, %v", got, err)
	}
	again, err := ParsePrivateKey(EncodePrivateKey(priv))
	if err != nil || !again.Equal(priv) {
		t.Fatalf("private key encoding does not round trip: %v", err)
	}
}

func TestRejects(t *testing.T) {
	priv, _ := GenerateKey()
	other, _ := GenerateKey()
	env, err := Seal([]byte(`{"a":1}`), priv.PublicKey(), "k1")
	if err != nil {
		t.Fatal(err)
	}
	flip := func(s string) string {
		b, _ := base64.RawURLEncoding.DecodeString(s)
		b[len(b)-1] ^= 1
		return base64.RawURLEncoding.EncodeToString(b)
	}
	mod := func(f func(*Envelope)) Envelope { e := env; f(&e); return e }
	notOnCurve := make([]byte, 65)
	notOnCurve[0] = 4
	notOnCurve[64] = 1
	cases := []struct {
		name string
		env  Envelope
		key  *ecdh.PrivateKey
		kid  string
		want error
	}{
		{"wrong lrv", mod(func(e *Envelope) { e.LRV = 2 }), priv, "k1", ErrVersion},
		{"wrong kid", env, priv, "k2", ErrKeyID},
		{"wrong key", env, other, "k1", ErrOpen},
		{"bad tag", mod(func(e *Envelope) { e.CT = flip(e.CT) }), priv, "k1", ErrOpen},
		{"kid changed in transit", mod(func(e *Envelope) { e.KID = "k2" }), priv, "k2", ErrOpen},
		{"point off the curve", mod(func(e *Envelope) { e.EPK = base64.RawURLEncoding.EncodeToString(notOnCurve) }), priv, "k1", ErrPoint},
		{"compressed point", mod(func(e *Envelope) { e.EPK = base64.RawURLEncoding.EncodeToString(make([]byte, 33)) }), priv, "k1", ErrField},
		{"short iv", mod(func(e *Envelope) { e.IV = "AAEC" }), priv, "k1", ErrField},
		{"ct shorter than a tag", mod(func(e *Envelope) { e.CT = "AAEC" }), priv, "k1", ErrField},
		{"epk not base64", mod(func(e *Envelope) { e.EPK = "!!" }), priv, "k1", ErrField},
	}
	for _, c := range cases {
		_, err := Open(c.env, c.key, c.kid)
		if !errors.Is(err, c.want) {
			t.Errorf("%s: error %v, want %v", c.name, err, c.want)
		}
	}
	if _, err := Parse([]byte(`{"lrv":2,"kid":"k"}`)); !errors.Is(err, ErrVersion) {
		t.Errorf("Parse of lrv 2: %v", err)
	}
	if _, err := Parse([]byte(`{"lrv":1}`)); !errors.Is(err, ErrField) {
		t.Errorf("Parse without kid: %v", err)
	}
}

func TestParsePrivateKey(t *testing.T) {
	for _, bad := range []string{"", "not base64!", base64.RawURLEncoding.EncodeToString(make([]byte, 31)),
		base64.RawURLEncoding.EncodeToString(make([]byte, 32)),                     // zero scalar
		base64.RawURLEncoding.EncodeToString([]byte(strings.Repeat("\xff", 32)))} { // above the order
		if _, err := ParsePrivateKey(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
