// Package geo locates IP addresses with a MaxMind-format database
// (GeoLite2-City, GeoIP2-City or any file of the same layout): ISO country
// code, first subdivision and English city name.
package geo

import (
	"fmt"
	"io/fs"
	"net/netip"
	"sync/atomic"

	"github.com/oschwald/maxminddb-golang/v2"

	"github.com/hazelnut-mmp/hazelnut/codecs"
)

// DB is an open database. It is safe for concurrent use.
type DB struct {
	r atomic.Pointer[maxminddb.Reader]
}

// Open opens the MMDB file at path. The file is memory-mapped; replace it
// by renaming a new file over it, never by rewriting it in place.
func Open(path string) (*DB, error) {
	r, err := maxminddb.Open(path)
	if err != nil {
		if _, ok := err.(*fs.PathError); ok { // already names the file
			return nil, fmt.Errorf("geoip database: %w", err)
		}
		return nil, fmt.Errorf("geoip database %s: %w", path, err)
	}
	if r.Metadata.IPVersion != 4 && r.Metadata.IPVersion != 6 {
		_ = r.Close()
		return nil, fmt.Errorf("geoip database %s: unsupported IP version %d", path, r.Metadata.IPVersion)
	}
	db := &DB{}
	db.r.Store(r)
	return db, nil
}

// DatabaseType is the type the file declares, e.g. "GeoLite2-City"; empty
// after Close.
func (db *DB) DatabaseType() string {
	if r := db.r.Load(); r != nil {
		return r.Metadata.DatabaseType
	}
	return ""
}

// record holds only the fields Lookup returns.
type record struct {
	Country struct {
		ISOCode string `maxminddb:"iso_code"`
	} `maxminddb:"country"`
	RegisteredCountry struct {
		ISOCode string `maxminddb:"iso_code"`
	} `maxminddb:"registered_country"`
	Subdivisions []struct {
		ISOCode string `maxminddb:"iso_code"`
		Names   struct {
			En string `maxminddb:"en"`
		} `maxminddb:"names"`
	} `maxminddb:"subdivisions"`
	City struct {
		Names struct {
			En string `maxminddb:"en"`
		} `maxminddb:"names"`
	} `maxminddb:"city"`
}

// Lookup returns where ip is: the zero Geo for a malformed address, one that
// is not a public unicast address (private, loopback, link-local,
// multicast, unspecified), one the database does not know, and after Close.
// An IPv4-mapped IPv6 address is looked up as IPv4.
func (db *DB) Lookup(ip string) codecs.Geo {
	addr, err := netip.ParseAddr(ip)
	if err != nil {
		return codecs.Geo{}
	}
	addr = addr.Unmap().WithZone("")
	if !addr.IsGlobalUnicast() || addr.IsPrivate() {
		return codecs.Geo{}
	}
	r := db.r.Load()
	if r == nil || (addr.Is6() && r.Metadata.IPVersion == 4) {
		return codecs.Geo{}
	}
	res := r.Lookup(addr)
	if !res.Found() {
		return codecs.Geo{}
	}
	var rec record
	if err := res.Decode(&rec); err != nil {
		return codecs.Geo{}
	}
	g := codecs.Geo{Country: rec.Country.ISOCode, City: rec.City.Names.En}
	if g.Country == "" {
		g.Country = rec.RegisteredCountry.ISOCode
	}
	if len(rec.Subdivisions) > 0 {
		g.Region = rec.Subdivisions[0].ISOCode
		g.RegionName = rec.Subdivisions[0].Names.En
	}
	return g
}

// Close stops lookups: later ones return the zero Geo. Lookups already
// running finish safely; the mapping is released once they have.
func (db *DB) Close() error {
	// The reader unmaps its file when it becomes unreachable, so a lookup
	// racing with Close never reads unmapped memory.
	db.r.Store(nil)
	return nil
}
