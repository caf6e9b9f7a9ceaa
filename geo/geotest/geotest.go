// Package geotest writes small MaxMind-format City databases for tests, so
// no test needs a real GeoIP file.
package geotest

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"testing"

	"github.com/maxmind/mmdbwriter"
	"github.com/maxmind/mmdbwriter/mmdbtype"

	"github.com/hazelnut-mmp/hazelnut/codecs"
)

// Network is one entry of a test database: CIDR located at Geo.
// Registered, when set, is the record's registered_country; with an empty
// Geo.Country it is the only country the record has (as for anycast
// networks).
type Network struct {
	CIDR       string
	Geo        codecs.Geo
	Registered string
}

// Default are the networks Write uses when given none: IPv4 and IPv6, a
// full City record, a country-only record, a registered-country-only record
// and a record inside private address space (which lookups must ignore).
var Default = []Network{
	{CIDR: "81.2.69.0/24", Geo: codecs.Geo{Country: "GB", Region: "ENG", RegionName: "England", City: "London"}},
	{CIDR: "89.160.20.112/28", Geo: codecs.Geo{Country: "SE", Region: "E", RegionName: "Östergötland County", City: "Linköping"}},
	{CIDR: "2.125.160.216/29", Geo: codecs.Geo{Country: "GB"}},
	{CIDR: "2001:db8::/32", Geo: codecs.Geo{Country: "US", Region: "WA", RegionName: "Washington", City: "Seattle"}},
	{CIDR: "2a02:cf40::/29", Geo: codecs.Geo{Country: "NO"}},
	{CIDR: "198.51.100.0/24", Registered: "JP"},
	{CIDR: "10.0.0.0/8", Geo: codecs.Geo{Country: "ZZ", City: "Private"}},
}

// Write writes a City-layout database of networks (Default when none are
// given) under tb's temporary directory and returns its path.
func Write(tb testing.TB, networks ...Network) string {
	tb.Helper()
	if len(networks) == 0 {
		networks = Default
	}
	path := filepath.Join(tb.TempDir(), "GeoLite2-City-Test.mmdb")
	if err := WriteFile(path, networks); err != nil {
		tb.Fatal(err)
	}
	return path
}

// WriteFile writes a City-layout database of networks to path.
func WriteFile(path string, networks []Network) error {
	tree, err := mmdbwriter.New(mmdbwriter.Options{
		DatabaseType:            "GeoLite2-City",
		Description:             map[string]string{"en": "test database"},
		Languages:               []string{"en"},
		IncludeReservedNetworks: true,
		RecordSize:              28,
	})
	if err != nil {
		return err
	}
	for _, n := range networks {
		_, ipnet, err := net.ParseCIDR(n.CIDR)
		if err != nil {
			return fmt.Errorf("geotest: %w", err)
		}
		if err := tree.Insert(ipnet, record(n)); err != nil {
			return fmt.Errorf("geotest: insert %s: %w", n.CIDR, err)
		}
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := tree.WriteTo(f); err != nil {
		_ = f.Close()
		return err
	}
	return f.Close()
}

// record is n in the GeoIP2-City layout.
func record(n Network) mmdbtype.Map {
	names := func(en string) mmdbtype.Map {
		return mmdbtype.Map{"en": mmdbtype.String(en), "de": mmdbtype.String(en + " (de)")}
	}
	m := mmdbtype.Map{}
	if n.Geo.Country != "" {
		m["country"] = mmdbtype.Map{"iso_code": mmdbtype.String(n.Geo.Country), "names": names(n.Geo.Country)}
		m["continent"] = mmdbtype.Map{"code": mmdbtype.String("EU"), "names": names("Europe")}
		m["location"] = mmdbtype.Map{"latitude": mmdbtype.Float64(51.5), "longitude": mmdbtype.Float64(-0.1)}
	}
	if n.Registered != "" {
		m["registered_country"] = mmdbtype.Map{"iso_code": mmdbtype.String(n.Registered), "names": names(n.Registered)}
	}
	if n.Geo.Region != "" || n.Geo.RegionName != "" {
		m["subdivisions"] = mmdbtype.Slice{
			mmdbtype.Map{"iso_code": mmdbtype.String(n.Geo.Region), "names": names(n.Geo.RegionName)},
			mmdbtype.Map{"iso_code": mmdbtype.String("SECOND"), "names": names("Second subdivision")},
		}
	}
	if n.Geo.City != "" {
		m["city"] = mmdbtype.Map{"names": names(n.Geo.City), "geoname_id": mmdbtype.Uint32(2643743)}
	}
	return m
}
