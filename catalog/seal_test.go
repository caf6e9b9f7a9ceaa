package catalog

import (
	"bytes"
	"strings"
	"testing"
)

func TestSealRoundTripAndBinding(t *testing.T) {
	key := bytes.Repeat([]byte{7}, 32)
	s, err := NewSealer(key)
	if err != nil {
		t.Fatal(err)
	}
	sealed := s.Seal("secret-1", "p1", "k1")
	if strings.Contains(sealed, "secret-1") {
		t.Fatal("sealed value shows the secret")
	}
	if got, err := s.Open(sealed, "p1", "k1"); err != nil || got != "secret-1" {
		t.Fatalf("open: %q %v", got, err)
	}
	for _, c := range [][2]string{{"p2", "k1"}, {"p1", "k2"}} {
		if _, err := s.Open(sealed, c[0], c[1]); err == nil {
			t.Errorf("opened for %v", c)
		}
	}
	other, _ := NewSealer(bytes.Repeat([]byte{8}, 32))
	if _, err := other.Open(sealed, "p1", "k1"); err == nil {
		t.Error("opened with another key")
	}
	if _, err := s.Open("not-base64!", "p1", "k1"); err == nil {
		t.Error("opened garbage")
	}
}

func TestParseCatalogKey(t *testing.T) {
	hexKey := strings.Repeat("ab", 32)
	for _, in := range []string{hexKey, "q6urq6urq6urq6urq6urq6urq6urq6urq6urq6urq6s=", "q6urq6urq6urq6urq6urq6urq6urq6urq6urq6urq6s"} {
		k, err := ParseCatalogKey(in)
		if err != nil || len(k) != 32 || k[0] != 0xab {
			t.Errorf("%q: %x %v", in, k, err)
		}
	}
	for _, in := range []string{"", "short", strings.Repeat("ab", 31)} {
		if _, err := ParseCatalogKey(in); err == nil {
			t.Errorf("%q accepted", in)
		}
	}
}
