package clientip

import (
	"net/http/httptest"
	"testing"
)

func TestIP(t *testing.T) {
	r, err := New([]string{"10.0.0.0/8", "192.0.2.7"})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, peer string
		xff        []string
		visitor    string
		want       string
	}{
		{"direct client", "203.0.113.9:5555", nil, "", "203.0.113.9"},
		{"untrusted peer's header is ignored", "203.0.113.9:5555", []string{"198.51.100.1"}, "", "203.0.113.9"},
		{"trusted proxy", "10.1.2.3:443", []string{"198.51.100.1"}, "", "198.51.100.1"},
		{"single trusted address", "192.0.2.7:443", []string{"198.51.100.1"}, "", "198.51.100.1"},
		{"private hops skipped", "10.1.2.3:443", []string{"192.168.1.4, 10.0.0.9, 198.51.100.1, 203.0.113.5"}, "", "198.51.100.1"},
		{"several headers", "10.1.2.3:443", []string{"172.16.0.1", "198.51.100.2"}, "", "198.51.100.2"},
		{"junk and loopback skipped", "10.1.2.3:443", []string{"unknown, 127.0.0.1, ::1, fe80::1, 100.64.1.1, 198.51.100.3"}, "", "198.51.100.3"},
		{"no public address: the proxy", "10.1.2.3:443", []string{"192.168.1.4"}, "", "10.1.2.3"},
		{"IPv6 client", "10.1.2.3:443", []string{"2001:db8::1, 2606:4700::1111"}, "", "2001:db8::1"},
		{"IPv4-mapped peer", "[::ffff:203.0.113.9]:80", nil, "", "203.0.113.9"},
		{"visitor header from a trusted proxy wins", "10.1.2.3:443", []string{"198.51.100.1"}, "198.51.100.77", "198.51.100.77"},
		{"visitor header from an untrusted peer is ignored", "203.0.113.9:5555", nil, "198.51.100.77", "203.0.113.9"},
		{"private visitor header falls back to X-Forwarded-For", "10.1.2.3:443", []string{"198.51.100.1"}, "192.168.0.8", "198.51.100.1"},
		{"junk visitor header falls back to the proxy", "10.1.2.3:443", nil, "nonsense", "10.1.2.3"},
	}
	for _, c := range cases {
		req := httptest.NewRequest("GET", "/", nil)
		req.RemoteAddr = c.peer
		for _, h := range c.xff {
			req.Header.Add("X-Forwarded-For", h)
		}
		if c.visitor != "" {
			req.Header.Set(HeaderVisitorIP, c.visitor)
		}
		if got := r.IP(req); got != c.want {
			t.Errorf("%s: got %s, want %s", c.name, got, c.want)
		}
	}
	if _, err := New([]string{"nonsense"}); err == nil {
		t.Error("a bad CIDR was accepted")
	}
}
