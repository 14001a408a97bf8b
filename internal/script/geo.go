package script

import (
	"fmt"
	"net/netip"
	"os"
	"strconv"
	"strings"

	"github.com/oschwald/maxminddb-golang/v2"
)

// GeoDB answers request.userLocation from a MaxMind-format database
// (GeoIP2 / GeoLite2 City or Country, or any .mmdb with the same fields).
// It reads the whole file into memory (no mmap), so a reload can drop it
// while requests still use it. It is safe for concurrent use.
type GeoDB struct {
	r *maxminddb.Reader
}

// geoRecord is the subset of a GeoIP2 City record EdgeScape has.
type geoRecord struct {
	City struct {
		Names map[string]string `maxminddb:"names"`
	} `maxminddb:"city"`
	Continent struct {
		Code string `maxminddb:"code"`
	} `maxminddb:"continent"`
	Country struct {
		ISOCode string `maxminddb:"iso_code"`
	} `maxminddb:"country"`
	Subdivisions []struct {
		ISOCode string `maxminddb:"iso_code"`
	} `maxminddb:"subdivisions"`
	Location struct {
		Latitude  *float64 `maxminddb:"latitude"`
		Longitude *float64 `maxminddb:"longitude"`
		TimeZone  string   `maxminddb:"time_zone"`
		MetroCode uint     `maxminddb:"metro_code"`
	} `maxminddb:"location"`
	Postal struct {
		Code string `maxminddb:"code"`
	} `maxminddb:"postal"`
}

// OpenGeoDB loads a .mmdb file.
func OpenGeoDB(file string) (*GeoDB, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("geo database: %w", err)
	}
	r, err := maxminddb.OpenBytes(data)
	if err != nil {
		return nil, fmt.Errorf("geo database %s: %w", file, err)
	}
	return &GeoDB{r: r}, nil
}

// Lookup returns the location of ip in EdgeScape's form (country and
// region codes, city upper-case without spaces as EdgeScape writes
// "SANJOSE"), or nil when the database does not know it.
func (g *GeoDB) Lookup(ip netip.Addr) *Location {
	if g == nil || !ip.IsValid() {
		return nil
	}
	res := g.r.Lookup(ip.Unmap())
	if !res.Found() {
		return nil
	}
	var rec geoRecord
	if err := res.Decode(&rec); err != nil {
		return nil
	}
	l := &Location{
		Continent: rec.Continent.Code, Country: rec.Country.ISOCode, ZipCode: rec.Postal.Code,
		Timezone: rec.Location.TimeZone,
		City:     strings.ToUpper(strings.ReplaceAll(rec.City.Names["en"], " ", "")),
	}
	if len(rec.Subdivisions) > 0 {
		l.Region = rec.Subdivisions[0].ISOCode
	}
	if rec.Location.MetroCode != 0 {
		l.DMA = strconv.FormatUint(uint64(rec.Location.MetroCode), 10)
	}
	if rec.Location.Latitude != nil && rec.Location.Longitude != nil {
		l.Latitude = strconv.FormatFloat(*rec.Location.Latitude, 'f', 4, 64)
		l.Longitude = strconv.FormatFloat(*rec.Location.Longitude, 'f', 4, 64)
	}
	if l.Country == "" && l.Continent == "" && l.City == "" && l.Latitude == "" {
		return nil
	}
	return l
}
