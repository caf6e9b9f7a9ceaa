package signing

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"
)

type vector struct {
	BodyFile     string            `json:"body_file"`
	SecretKey    string            `json:"secret_key"`
	KeyID        string            `json:"key_id"`
	Headers      map[string]string `json:"headers"`
	ContentHash  string            `json:"content_hash"`
	StringToSign string            `json:"string_to_sign"`
}

func loadVector(t *testing.T) (vector, []byte, http.Header) {
	t.Helper()
	dir := filepath.Join("..", "..", "..", "shared", "fixtures", "sdk")
	b, err := os.ReadFile(filepath.Join(dir, "signing-vector.json"))
	if err != nil {
		t.Fatal(err)
	}
	var v vector
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	body, err := os.ReadFile(filepath.Join(dir, v.BodyFile))
	if err != nil {
		t.Fatal(err)
	}
	h := http.Header{}
	for k, val := range v.Headers {
		h.Set(k, val)
	}
	return v, body, h
}

func verifierFor(v vector, at time.Time) Verifier {
	return Verifier{
		Secret: func(id string) (string, bool) { return v.SecretKey, id == v.KeyID },
		Now:    func() time.Time { return at },
	}
}

// The fixture's vector verifies at its own timestamp, and its intermediate
// values match ours.
func TestFixtureVector(t *testing.T) {
	v, body, h := loadVector(t)
	if got := ContentHash(body); got != v.ContentHash {
		t.Fatalf("content hash %s, fixture %s", got, v.ContentHash)
	}
	at := time.UnixMilli(1764080123456)
	if id, err := verifierFor(v, at).Verify(h, body); err != nil || id != v.KeyID {
		t.Fatalf("fixture vector: %q %v", id, err)
	}
	// One byte changed: the signature must fail.
	tampered := append([]byte(nil), body...)
	tampered[len(tampered)/2] ^= 1
	if _, err := verifierFor(v, at).Verify(h, tampered); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("tampered body: %v", err)
	}
}

// An independent computation, written out step by step from the contract,
// agrees with Sign.
func TestIndependentVectors(t *testing.T) {
	for _, c := range []struct {
		secret string
		ts     int64
		body   string
	}{
		{"s3cret", 1700000000000, `{"token":"T","event_name":"purchase"}`},
		{"0193a1b2-c3d4-7e5f", 1, `{}`},
		{"k", 1764080123456, ""},
	} {
		var hash string
		if c.body != "" {
			sum := sha256.Sum256([]byte(c.body))
			hash = base64.StdEncoding.EncodeToString(sum[:])
		}
		mac := hmac.New(sha256.New, []byte(c.secret))
		mac.Write([]byte(itoa(c.ts) + "\n" + hash))
		want := base64.StdEncoding.EncodeToString(mac.Sum(nil))
		if got := Sign(c.secret, c.ts, []byte(c.body)); got != want {
			t.Errorf("Sign(%q, %d, %q) = %s, want %s", c.secret, c.ts, c.body, got, want)
		}
	}
}

// itoa formats n without strconv, so the test does not share the code it
// checks.
func itoa(n int64) string {
	if n == 0 {
		return "0"
	}
	var b []byte
	for ; n > 0; n /= 10 {
		b = append([]byte{byte('0' + n%10)}, b...)
	}
	return string(b)
}

func TestRejections(t *testing.T) {
	v, body, h := loadVector(t)
	at := time.UnixMilli(1764080123456)
	with := func(k, val string) http.Header {
		c := h.Clone()
		if val == "" {
			c.Del(k)
		} else {
			c.Set(k, val)
		}
		return c
	}
	cases := []struct {
		name string
		h    http.Header
		at   time.Time
		want error
	}{
		{"unsigned", http.Header{}, at, ErrUnsigned},
		{"no signature", with(HeaderSignature, ""), at, ErrUnsigned},
		{"unknown key", with(HeaderKeyID, "other"), at, ErrUnknownKey},
		{"timestamp not a number", with(HeaderTimestamp, "yesterday"), at, ErrBadTimestamp},
		{"too old", h, at.Add(5*time.Minute + time.Second), ErrSkew},
		{"from the future", h, at.Add(-5*time.Minute - time.Second), ErrSkew},
		{"signature not base64", with(HeaderSignature, "%%%"), at, ErrBadSignature},
		{"wrong signature", with(HeaderSignature, Sign("other", 1764080123456, body)), at, ErrBadSignature},
		{"edge of the window", h, at.Add(5 * time.Minute), nil},
	}
	for _, c := range cases {
		_, err := verifierFor(v, c.at).Verify(c.h, body)
		if !errors.Is(err, c.want) {
			t.Errorf("%s: got %v, want %v", c.name, err, c.want)
		}
	}
}
