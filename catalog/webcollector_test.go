package catalog

import (
	"encoding/base64"
	"strings"
	"testing"
)

// validWebKey is a P-256 scalar (the test vector's) in base64url.
const validWebKey = "Hx8fHx8fHx8fHx8fHx8fHx8fHx8fHx8fHx8fHx8fH6E"

func TestValidateWebCollector(t *testing.T) {
	p := validProject()
	p.Secrets.WebCollector.Keys = []WebKey{{KeyID: "web-1", PrivateKey: validWebKey, Active: true},
		{KeyID: "web-0", PrivateKey: strings.TrimRight(base64.StdEncoding.EncodeToString(mustB64(t, validWebKey)), "="), Active: false}}
	if err := p.Validate(); err != nil {
		t.Fatalf("valid keys refused: %v", err)
	}
	p.Secrets.WebCollector.Keys = []WebKey{
		{KeyID: "", PrivateKey: validWebKey},
		{KeyID: "a b", PrivateKey: validWebKey},
		{KeyID: "dup", PrivateKey: validWebKey},
		{KeyID: "dup", PrivateKey: validWebKey},
		{KeyID: "short", PrivateKey: base64.RawURLEncoding.EncodeToString(make([]byte, 16))},
		{KeyID: "zero", PrivateKey: base64.RawURLEncoding.EncodeToString(make([]byte, 32))},
		{KeyID: "junk", PrivateKey: "-----BEGIN PRIVATE KEY-----"},
		{KeyID: "none"},
	}
	err := p.Validate()
	if err == nil {
		t.Fatal("bad keys accepted")
	}
	for _, want := range []string{
		"web_collector.keys[0].key_id: is required",
		"web_collector.keys[1].key_id: must be at most 128 characters without white space",
		`web_collector.keys[3].key_id: "dup" is listed twice`,
		"web_collector.keys[4].private_key: is 16 bytes",
		"web_collector.keys[5].private_key: is not a valid P-256 private key",
		"web_collector.keys[6].private_key: must be a 32-byte P-256 scalar in base64url",
		"web_collector.keys[7].private_key: is required",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("missing %q in:\n%v", want, err)
		}
	}
}

// Key ids are unique across projects; the project of a key id is found.
func TestProjectByWebKey(t *testing.T) {
	a := Project{ID: "a", Token: "ta", WebKeys: []WebKey{{KeyID: "k1", PrivateKey: validWebKey, Active: true}, {KeyID: "k0", PrivateKey: validWebKey}}}
	b := Project{ID: "b", Token: "tb", WebKeys: []WebKey{{KeyID: "k2", PrivateKey: validWebKey, Active: true}}}
	s, err := NewStatic(a, b)
	if err != nil {
		t.Fatal(err)
	}
	if p, ok := s.ProjectByWebKey("k2"); !ok || p.ID != "b" {
		t.Fatalf("k2 → %v %v", p.ID, ok)
	}
	if _, ok := s.ProjectByWebKey("nope"); ok {
		t.Fatal("unknown key id found")
	}
	if _, ok := a.WebKey("k0"); ok {
		t.Fatal("an inactive key opens bodies")
	}
	if k, ok := a.WebKey("k1"); !ok || k.PrivateKey != validWebKey {
		t.Fatal("the active key is not found")
	}
	b.WebKeys = append(b.WebKeys, WebKey{KeyID: "k1"})
	if _, err := NewStatic(a, b); err == nil || !strings.Contains(err.Error(), `web collector key id "k1"`) {
		t.Fatalf("a key id of two projects: %v", err)
	}
	rec := ProjectRecord{ID: "a", Secrets: Secrets{Token: "ta", WebCollector: WebCollector{Keys: a.WebKeys}}}
	if got := rec.Project().WebKeys; len(got) != 2 || got[0].KeyID != "k1" {
		t.Fatalf("Project() web keys %+v", got)
	}
}

func mustB64(t *testing.T, s string) []byte {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
