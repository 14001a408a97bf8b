package script

import (
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/maxmind/mmdbwriter"
	"github.com/maxmind/mmdbwriter/mmdbtype"
)

// writeMMDB builds a tiny GeoIP2-City-shaped database: 192.0.2.0/24 is
// San Jose, California; 198.51.100.0/24 is only a country (Switzerland).
func writeMMDB(t testing.TB, dir string) string {
	t.Helper()
	tree, err := mmdbwriter.New(mmdbwriter.Options{DatabaseType: "GeoIP2-City", RecordSize: 24, IncludeReservedNetworks: true})
	if err != nil {
		t.Fatal(err)
	}
	_, sanJose, _ := net.ParseCIDR("192.0.2.0/24")
	if err := tree.Insert(sanJose, mmdbtype.Map{
		"city":         mmdbtype.Map{"names": mmdbtype.Map{"en": mmdbtype.String("San Jose")}},
		"continent":    mmdbtype.Map{"code": mmdbtype.String("NA")},
		"country":      mmdbtype.Map{"iso_code": mmdbtype.String("US")},
		"subdivisions": mmdbtype.Slice{mmdbtype.Map{"iso_code": mmdbtype.String("CA")}},
		"location": mmdbtype.Map{"latitude": mmdbtype.Float64(37.3394), "longitude": mmdbtype.Float64(-121.895),
			"time_zone": mmdbtype.String("America/Los_Angeles"), "metro_code": mmdbtype.Uint16(807)},
		"postal": mmdbtype.Map{"code": mmdbtype.String("95141")},
	}); err != nil {
		t.Fatal(err)
	}
	_, ch, _ := net.ParseCIDR("198.51.100.0/24")
	if err := tree.Insert(ch, mmdbtype.Map{"country": mmdbtype.Map{"iso_code": mmdbtype.String("CH")}, "continent": mmdbtype.Map{"code": mmdbtype.String("EU")}}); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "geo.mmdb")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := tree.WriteTo(f); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestGeoDB(t *testing.T) {
	db, err := OpenGeoDB(writeMMDB(t, t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		ip   string
		want *Location
	}{
		{"192.0.2.77", &Location{Continent: "NA", Country: "US", Region: "CA", City: "SANJOSE", ZipCode: "95141", DMA: "807", Timezone: "America/Los_Angeles", Latitude: "37.3394", Longitude: "-121.8950"}},
		{"::ffff:198.51.100.1", &Location{Continent: "EU", Country: "CH"}},
		{"203.0.113.1", nil},
		{"2001:db8::1", nil},
	}
	for _, tc := range tests {
		got := db.Lookup(netip.MustParseAddr(tc.ip))
		if !cmp.Equal(got, tc.want) {
			t.Errorf("%s: %+v, want %+v", tc.ip, got, tc.want)
		}
	}
	if db.Lookup(netip.Addr{}) != nil {
		t.Error("invalid address found")
	}
	if _, err := OpenGeoDB(filepath.Join(t.TempDir(), "none.mmdb")); err == nil {
		t.Error("missing file opened")
	}
	bad := filepath.Join(t.TempDir(), "bad.mmdb")
	_ = os.WriteFile(bad, []byte("not a database"), 0o600)
	if _, err := OpenGeoDB(bad); err == nil || !strings.Contains(err.Error(), "bad.mmdb") {
		t.Errorf("bad file: %v", err)
	}

	// The script sees it as userLocation.
	w := worker(t, "dynamic", mainJS(`export function onClientRequest(r) { const l = r.userLocation; r.setVariable('PMUSER_L', l ? [l.country, l.region, l.city, l.zipCode, l.timezone].join('/') : 'none'); }`))
	req := newReq()
	req.Location = db.Lookup(netip.MustParseAddr("192.0.2.1"))
	run(t, w, OnClientRequest, req, nil)
	if v, _ := req.Vars.Get("PMUSER_L"); v != "US/CA/SANJOSE/95141/America/Los_Angeles" {
		t.Errorf("userLocation %q", v)
	}
}

func TestDeviceFromUA(t *testing.T) {
	tests := []struct{ ua, want string }{
		{"Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 Version/17.0 Mobile/15E148 Safari/604.1", "mobile iOS Apple Safari"},
		{"Mozilla/5.0 (iPad; CPU OS 16_0 like Mac OS X) AppleWebKit/605.1.15 CriOS/120 Mobile/15E148 Safari/604.1", "tablet iOS Apple Chrome"},
		{"Mozilla/5.0 (Linux; Android 14; SM-S918B) AppleWebKit/537.36 Chrome/120 SamsungBrowser/23.0 Mobile Safari/537.36", "mobile Android Samsung Samsung Browser"},
		{"Mozilla/5.0 (Linux; Android 13; Pixel Tablet) AppleWebKit/537.36 Chrome/120 Safari/537.36", "tablet Android Google Chrome"},
		{"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/120 Safari/537.36", "desktop Windows  "},
		{"Mozilla/5.0 (Macintosh; Intel Mac OS X 14_0) AppleWebKit/605.1.15 Version/17.0 Safari/605.1.15", "desktop Mac OS X  "},
		{"curl/8.5.0", "desktop   "},
	}
	for _, tc := range tests {
		d := DeviceFromUA(tc.ua)
		kind := "desktop"
		if *d.IsMobile {
			kind = "mobile"
		} else if *d.IsTablet {
			kind = "tablet"
		}
		if got := strings.Join([]string{kind, d.OS, d.BrandName, d.MobileBrowser}, " "); got != tc.want {
			t.Errorf("%s:\n got %q\nwant %q", tc.ua, got, tc.want)
		}
		if (d.HasCookieSupport != nil) != strings.HasPrefix(tc.ua, "Mozilla/") {
			t.Errorf("%s: cookie support %v", tc.ua, d.HasCookieSupport)
		}
	}
	if DeviceFromUA(" ") != nil {
		t.Error("empty User-Agent gave a device")
	}
}

func FuzzDeviceFromUA(f *testing.F) {
	f.Add("Mozilla/5.0 (iPhone) Mobile")
	f.Fuzz(func(t *testing.T, ua string) {
		d := DeviceFromUA(ua)
		if d != nil && *d.IsMobile && *d.IsTablet {
			t.Fatalf("%q: mobile and tablet", ua)
		}
	})
}

// TestWriteConfigMMDB regenerates the config package's test database with
// -update (it is committed so that config tests need no writer).
func TestWriteConfigMMDB(t *testing.T) {
	if !*updateMMDB {
		t.Skip("only with -update-mmdb")
	}
	writeMMDB(t, filepath.Join("..", "config", "testdata", "valid"))
}
