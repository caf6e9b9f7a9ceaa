package geo_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/hazelnut-mmp/hazelnut/codecs"
	"github.com/hazelnut-mmp/hazelnut/gateway"
	"github.com/hazelnut-mmp/hazelnut/geo"
	"github.com/hazelnut-mmp/hazelnut/geo/geotest"
)

var _ gateway.Geo = (*geo.DB)(nil)

func open(t testing.TB, networks ...geotest.Network) *geo.DB {
	t.Helper()
	db, err := geo.Open(geotest.Write(t, networks...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

var london = codecs.Geo{Country: "GB", Region: "ENG", RegionName: "England", City: "London"}

func TestLookup(t *testing.T) {
	db := open(t)
	if got := db.DatabaseType(); got != "GeoLite2-City" {
		t.Errorf("DatabaseType() = %q", got)
	}
	seattle := codecs.Geo{Country: "US", Region: "WA", RegionName: "Washington", City: "Seattle"}
	for _, tc := range []struct {
		name, ip string
		want     codecs.Geo
	}{
		{"ipv4 hit", "81.2.69.160", london},
		{"ipv4 first of network", "81.2.69.0", london},
		{"ipv4 last of network", "81.2.69.255", london},
		{"non-ascii names", "89.160.20.120", codecs.Geo{Country: "SE", Region: "E", RegionName: "Östergötland County", City: "Linköping"}},
		{"country only", "2.125.160.217", codecs.Geo{Country: "GB"}},
		{"registered country fallback", "198.51.100.7", codecs.Geo{Country: "JP"}},
		{"ipv6 hit", "2001:db8::1", seattle},
		{"ipv6 upper case", "2001:DB8:0:0:0:0:0:ABCD", seattle},
		{"ipv6 with zone", "2001:db8::1%eth0", seattle},
		{"ipv6 country only", "2a02:cf40::9", codecs.Geo{Country: "NO"}},
		{"ipv4-mapped ipv6", "::ffff:81.2.69.160", london},
		{"ipv4-mapped ipv6 hex", "::ffff:5102:45a0", london},
		{"ipv4 miss", "81.2.70.1", codecs.Geo{}},
		{"ipv4 miss next to a network", "89.160.20.128", codecs.Geo{}},
		{"ipv6 miss", "2001:db9::1", codecs.Geo{}},
		{"private ipv4 in the database", "10.1.2.3", codecs.Geo{}},
		{"private ipv4", "192.168.1.1", codecs.Geo{}},
		{"loopback", "127.0.0.1", codecs.Geo{}},
		{"ipv6 loopback", "::1", codecs.Geo{}},
		{"ipv6 unique local", "fd00::1", codecs.Geo{}},
		{"link local", "fe80::1", codecs.Geo{}},
		{"unspecified", "0.0.0.0", codecs.Geo{}},
		{"multicast", "224.0.0.1", codecs.Geo{}},
		{"empty", "", codecs.Geo{}},
		{"garbage", "not an ip", codecs.Geo{}},
		{"with port", "81.2.69.160:443", codecs.Geo{}},
		{"bracketed", "[2001:db8::1]", codecs.Geo{}},
		{"cidr", "81.2.69.0/24", codecs.Geo{}},
		{"out of range octet", "81.2.69.256", codecs.Geo{}},
		{"spaces", " 81.2.69.160", codecs.Geo{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := db.Lookup(tc.ip); got != tc.want {
				t.Errorf("Lookup(%q) = %+v, want %+v", tc.ip, got, tc.want)
			}
		})
	}
}

// A database of IPv4 networks only answers IPv6 lookups with the zero Geo.
func TestLookupIPv4OnlyNetworks(t *testing.T) {
	db := open(t, geotest.Network{CIDR: "81.2.69.0/24", Geo: london})
	if got := db.Lookup("81.2.69.1"); got != london {
		t.Errorf("ipv4: %+v", got)
	}
	if got := db.Lookup("2001:db8::1"); got != (codecs.Geo{}) {
		t.Errorf("ipv6: %+v", got)
	}
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good, err := os.ReadFile(geotest.Write(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, path string }{
		{"missing", filepath.Join(dir, "missing.mmdb")},
		{"directory", dir},
		{"empty", write("empty.mmdb", nil)},
		{"not an mmdb", write("text.mmdb", []byte(strings.Repeat("this is not a MaxMind database\n", 100)))},
		{"truncated", write("truncated.mmdb", good[:len(good)/3])},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db, err := geo.Open(tc.path)
			if err == nil {
				_ = db.Close()
				t.Fatalf("Open(%s) succeeded", tc.path)
			}
			if msg := err.Error(); !strings.HasPrefix(msg, "geoip database") || !strings.Contains(msg, tc.path+": ") {
				t.Errorf("error %q does not name the file", err)
			}
		})
	}
}

func TestClose(t *testing.T) {
	db, err := geo.Open(geotest.Write(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if got := db.Lookup("81.2.69.160"); got != (codecs.Geo{}) {
		t.Errorf("after Close: %+v", got)
	}
	if err := db.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

// Lookups run concurrently with each other and with Close (run with -race).
func TestConcurrentLookups(t *testing.T) {
	db, err := geo.Open(geotest.Write(t))
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for j := range 2000 {
				ip := fmt.Sprintf("81.2.69.%d", (i*2000+j)%256)
				if got := db.Lookup(ip); got != london && got != (codecs.Geo{}) {
					t.Errorf("Lookup(%s) = %+v", ip, got)
					return
				}
			}
		})
	}
	_ = db.Close()
	wg.Wait()
}

func BenchmarkLookup(b *testing.B) {
	db := open(b)
	for _, bc := range []struct{ name, ip string }{
		{"ipv4-city", "81.2.69.160"},
		{"ipv6-city", "2001:db8::1"},
		{"ipv4-miss", "81.2.70.1"},
		{"private", "10.1.2.3"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					_ = db.Lookup(bc.ip)
				}
			})
		})
	}
}
