package gateway

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hazelnut-mmp/hazelnut/catalog"
	"github.com/hazelnut-mmp/hazelnut/gateway/signing"
)

// Request signing (sdk-contract §3) checked against vectors computed
// outside this code base (testdata/signing-vectors.json) and the shared SDK
// fixture, then through the router for a project that enforces signing on
// iOS only.

type signingVector struct {
	Name          string `json:"name"`
	Secret        string `json:"secret"`
	Timestamp     string `json:"timestamp"`
	BodyBase64    string `json:"body_base64"`
	BodyLen       int    `json:"body_len"`
	ContentHash   string `json:"content_hash"`
	StringToSign  string `json:"string_to_sign"`
	Signature     string `json:"signature"`
	body          []byte
	timestampMsec int64
}

func loadSigningVectors(t *testing.T) []signingVector {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "signing-vectors.json"))
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Vectors []signingVector `json:"vectors"`
	}
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatal(err)
	}
	if len(f.Vectors) < 4 {
		t.Fatalf("%d vectors", len(f.Vectors))
	}
	for i := range f.Vectors {
		v := &f.Vectors[i]
		if v.body, err = base64.StdEncoding.DecodeString(v.BodyBase64); err != nil || len(v.body) != v.BodyLen {
			t.Fatalf("%s: body: %v (%d bytes, want %d)", v.Name, err, len(v.body), v.BodyLen)
		}
		if v.timestampMsec, err = strconv.ParseInt(v.Timestamp, 10, 64); err != nil {
			t.Fatal(err)
		}
	}
	return f.Vectors
}

// signedHeaders are the headers an SDK adds, in the SDK's spelling.
func signedHeaders(keyID, ts, sig string) []string {
	return []string{"Authorization", "HMAC", "x-Key-Id", keyID, "x-Timestamp", ts, "x-Signature", sig}
}

// hmacSign signs body as the SDK does, written out from the contract.
func hmacSign(secret string, ts int64, body []byte) string {
	hash := ""
	if len(body) > 0 {
		sum := sha256.Sum256(body)
		hash = base64.StdEncoding.EncodeToString(sum[:])
	}
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(strconv.FormatInt(ts, 10) + "\n" + hash))
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

func TestSigningVectors(t *testing.T) {
	var sawEmpty, sawUTF8, sawLarge bool
	for _, v := range loadSigningVectors(t) {
		t.Run(v.Name, func(t *testing.T) {
			sawEmpty = sawEmpty || len(v.body) == 0
			sawLarge = sawLarge || len(v.body) > 32<<10
			sawUTF8 = sawUTF8 || strings.ContainsFunc(string(v.body), func(r rune) bool { return r > 127 })
			if got := signing.ContentHash(v.body); got != v.ContentHash {
				t.Errorf("content hash %q, want %q", got, v.ContentHash)
			}
			if got := signing.Sign(v.Secret, v.timestampMsec, v.body); got != v.Signature {
				t.Errorf("signature %q, want %q", got, v.Signature)
			}
			if v.StringToSign != v.Timestamp+"\n"+v.ContentHash {
				t.Errorf("string to sign %q", v.StringToSign)
			}
			h := http.Header{}
			for i, hv := 0, signedHeaders("k1", v.Timestamp, v.Signature); i < len(hv); i += 2 {
				h.Set(hv[i], hv[i+1])
			}
			ver := signing.Verifier{Secret: func(id string) (string, bool) { return v.Secret, id == "k1" },
				Now: func() time.Time { return time.UnixMilli(v.timestampMsec) }}
			if _, err := ver.Verify(h, v.body); err != nil {
				t.Errorf("verify: %v", err)
			}
			tampered := append([]byte(nil), v.body...)
			if len(tampered) == 0 {
				tampered = []byte(" ")
			} else {
				tampered[len(tampered)/2] ^= 0x20
			}
			if _, err := ver.Verify(h, tampered); err == nil {
				t.Error("a changed body verified")
			}
			if len(v.body) == 0 {
				return
			}
			// Through the router, for a project that enforces iOS signing
			// with this vector's secret.
			cat := contractCatalogWith(t, func(c *catalog.Catalog) {
				s := c.Projects[0].Secrets.Signing[catalog.IOS]
				s.Keys = append(s.Keys, catalog.SigningKey{KeyID: "vector-key", Secret: v.Secret, Active: true})
				c.Projects[0].Secrets.Signing[catalog.IOS] = s
			}, catalog.IOS)
			m, hd := newContractServer(t, cat, WithClock(func() time.Time { return time.UnixMilli(v.timestampMsec) }))
			r := send(t, hd, "/api/client/capture-event", string(v.body), signedHeaders("vector-key", v.Timestamp, v.Signature)...)
			checkEnvelope(t, r, 200)
			// one byte changed, the body still JSON (a body that is not
			// JSON is refused before its token can name a project)
			changed := strings.Replace(string(v.body), `"IOS"`, `"iOS"`, 1)
			if changed == string(v.body) {
				t.Fatal("vector body names no IOS platform")
			}
			r = send(t, hd, "/api/client/capture-event", changed, signedHeaders("vector-key", v.Timestamp, v.Signature)...)
			if code, _ := r.errCode(); r.code != 401 || code != "invalid_signature" {
				t.Errorf("changed body: %d %s", r.code, r.raw)
			}
			if n := len(m.all()); n != 1 {
				t.Errorf("published %d, want 1", n)
			}
		})
	}
	if !sawEmpty || !sawUTF8 || !sawLarge {
		t.Errorf("vectors miss a case: empty %v, non-ASCII %v, large %v", sawEmpty, sawUTF8, sawLarge)
	}
}

// The shared fixture's signed capture-event verifies at its own instant,
// through the router, and fails with one byte changed.
func TestSigningSharedFixture(t *testing.T) {
	vb, err := os.ReadFile(filepath.Join(fixtureDir, "signing-vector.json"))
	if err != nil {
		t.Fatal(err)
	}
	var v struct {
		BodyFile string            `json:"body_file"`
		Secret   string            `json:"secret_key"`
		KeyID    string            `json:"key_id"`
		Headers  map[string]string `json:"headers"`
	}
	if err := json.Unmarshal(vb, &v); err != nil {
		t.Fatal(err)
	}
	body, err := os.ReadFile(filepath.Join(fixtureDir, v.BodyFile))
	if err != nil {
		t.Fatal(err)
	}
	ts, _ := strconv.ParseInt(v.Headers["x-Timestamp"], 10, 64)
	if got := hmacSign(v.Secret, ts, body); got != v.Headers["x-Signature"] {
		t.Fatalf("independent signature %q, fixture %q", got, v.Headers["x-Signature"])
	}
	var hdr []string
	for k, val := range v.Headers {
		hdr = append(hdr, k, val)
	}
	cat := contractCatalogWith(t, func(c *catalog.Catalog) {
		s := c.Projects[0].Secrets.Signing[catalog.IOS]
		s.Keys = append(s.Keys, catalog.SigningKey{KeyID: v.KeyID, Secret: v.Secret, Active: true})
		c.Projects[0].Secrets.Signing[catalog.IOS] = s
	}, catalog.IOS)
	at := time.UnixMilli(ts)
	m, h := newContractServer(t, cat, WithClock(func() time.Time { return at }))
	r := send(t, h, "/api/client/capture-event", string(body), hdr...)
	checkEnvelope(t, r, 200)
	tampered := strings.Replace(string(body), "add_to_cart", "add_to_carT", 1)
	r = send(t, h, "/api/client/capture-event", tampered, hdr...)
	if code, _ := r.errCode(); r.code != 401 || code != "invalid_signature" {
		t.Errorf("changed body: %d %s", r.code, r.raw)
	}
	// An hour later the same request is outside the window.
	at = at.Add(time.Hour)
	r = send(t, h, "/api/client/capture-event", string(body), hdr...)
	if code, _ := r.errCode(); r.code != 401 || code != "invalid_signature" {
		t.Errorf("an hour later: %d %s", r.code, r.raw)
	}
	if n := len(m.all()); n != 1 {
		t.Errorf("published %d, want 1", n)
	}
}

// A project that enforces signing on iOS and not on Android.
func TestSigningEnforcedThroughRouter(t *testing.T) {
	ms := now.UnixMilli()
	ios := func(extra string) string {
		return `{"token":"tok1","event_name":"purchase","install_instance_id":"i-sig"` + extra + `}`
	}
	iosBody := ios(`,"platform":"IOS"`)
	cases := []struct {
		name, body string
		hdr        []string
		opts       []Option
		status     int
	}{
		{"unsigned iOS", iosBody, nil, nil, 401},
		{"unsigned lower-case ios", ios(`,"platform":"ios"`), nil, nil, 401},
		{"signed iOS", iosBody, signedHeaders(cIOSKey, strconv.FormatInt(ms, 10), hmacSign(cIOSSecret, ms, []byte(iosBody))), nil, 200},
		{"signed, one body byte changed", strings.Replace(iosBody, "purchase", "purchasE", 1),
			signedHeaders(cIOSKey, strconv.FormatInt(ms, 10), hmacSign(cIOSSecret, ms, []byte(iosBody))), nil, 401},
		{"signed with another secret", iosBody, signedHeaders(cIOSKey, strconv.FormatInt(ms, 10), hmacSign("wrong", ms, []byte(iosBody))), nil, 401},
		{"signature not base64", iosBody, signedHeaders(cIOSKey, strconv.FormatInt(ms, 10), "%%%"), nil, 401},
		{"timestamp 6 min old", iosBody, signedAt(cIOSKey, cIOSSecret, ms-6*60_000, iosBody), nil, 401},
		{"timestamp 6 min ahead", iosBody, signedAt(cIOSKey, cIOSSecret, ms+6*60_000, iosBody), nil, 401},
		{"timestamp 4 min old", iosBody, signedAt(cIOSKey, cIOSSecret, ms-4*60_000, iosBody), nil, 200},
		{"timestamp in seconds", iosBody, signedAt(cIOSKey, cIOSSecret, ms/1000, iosBody), nil, 401},
		{"timestamp not a number", iosBody, signedHeaders(cIOSKey, "soon", hmacSign(cIOSSecret, ms, []byte(iosBody))), nil, 401},
		{"timestamp 6 min old, skew widened", iosBody, signedAt(cIOSKey, cIOSSecret, ms-6*60_000, iosBody),
			[]Option{WithSigningSkew(10 * time.Minute)}, 200},
		{"unknown key id", iosBody, signedAt("nope", cIOSSecret, ms, iosBody), nil, 401},
		{"inactive key id", iosBody, signedAt("ios-retired", "retired-secret", ms, iosBody), nil, 401},
		{"key id missing", iosBody, []string{"x-Timestamp", strconv.FormatInt(ms, 10), "x-Signature", hmacSign(cIOSSecret, ms, []byte(iosBody))}, nil, 401},
		{"iOS signed with the Android key", iosBody, signedAt(cAndKey, cAndSecret, ms, iosBody), nil, 401},
		{"no platform, signed with the Android key", ios(""), signedAt(cAndKey, cAndSecret, ms, ios("")), nil, 401},
		{"no platform, unsigned", ios(""), nil, nil, 401},
		{"no platform, signed", ios(""), signedAt(cIOSKey, cIOSSecret, ms, ios("")), nil, 200},
		{"unknown platform, unsigned", ios(`,"platform":"WEB"`), nil, nil, 401},
		{"Android unsigned", ios(`,"platform":"ANDROID"`), nil, nil, 200},
		{"React Native unsigned", ios(`,"platform":"REACT_NATIVE"`), nil, nil, 200},
		{"Android badly signed", ios(`,"platform":"ANDROID"`), signedAt(cAndKey, "wrong", ms, ios(`,"platform":"ANDROID"`)), nil, 200},
		{"Android signed", ios(`,"platform":"ANDROID"`), signedAt(cAndKey, cAndSecret, ms, ios(`,"platform":"ANDROID"`)), nil, 200},
		{"Android stale signature", ios(`,"platform":"ANDROID"`), signedAt(cAndKey, cAndSecret, ms-time.Hour.Milliseconds(), ios(`,"platform":"ANDROID"`)), nil, 200},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m, h := newContractServer(t, contractCatalog(t, catalog.IOS), c.opts...)
			r := send(t, h, "/api/client/capture-event", c.body, c.hdr...)
			if c.status == 401 {
				checkRefused(t, r, 401, "invalid_signature", "")
				if n := len(m.all()); n != 0 {
					t.Errorf("published %d", n)
				}
				return
			}
			checkEnvelope(t, r, c.status)
			if n := len(m.all()); n != 1 {
				t.Errorf("published %d, want 1", n)
			}
		})
	}
}

func signedAt(keyID, secret string, ms int64, body string) []string {
	return signedHeaders(keyID, strconv.FormatInt(ms, 10), hmacSign(secret, ms, []byte(body)))
}

// Signing is checked on every route of an enforcing project, before the
// body is read as anything but bytes.
func TestSigningEnforcedEveryRoute(t *testing.T) {
	ms := now.UnixMilli()
	for _, route := range clientRoutes {
		t.Run(route, func(t *testing.T) {
			m, h := newContractServer(t, contractCatalog(t, catalog.IOS, catalog.Android))
			body := minimal(route)
			r := send(t, h, "/api/client/"+route, body, "Origin", "https://demo.example.link")
			checkRefused(t, r, 401, "invalid_signature", "")
			if len(m.all()) != 0 {
				t.Error("an unsigned request was published")
			}
			r = send(t, h, "/api/client/"+route, body, append(signedAt(cAndKey, cAndSecret, ms, body), "Origin", "https://demo.example.link")...)
			if r.code/100 != 2 {
				t.Errorf("signed: %d %s", r.code, r.raw)
			}
		})
	}
}
