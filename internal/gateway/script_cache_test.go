package gateway

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
)

// TestScriptCacheKey: request.cacheKey.includeVariable in onClientRequest
// splits the cache by the script's PMUSER variable, as on Akamai — mobile
// and desktop get their own stored copy, and each is then a hit.
func TestScriptCacheKey(t *testing.T) {
	var hits atomic.Int64
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := hits.Add(1)
		w.Header().Set("Cache-Control", "public, max-age=60")
		fmt.Fprintf(w, "device=%s origin-hit=%d", r.Header.Get("X-Device-Type"), n)
	}))
	defer origin.Close()
	src := fmt.Sprintf(`version: 1
listeners: [{address: "127.0.0.1:0"}]
admin: {address: "off"}
cache: {}
scripts:
  bundles:
    - {name: device, path: %q}
pools: [{name: app, members: [%s]}]
routes:
  - name: device
    pool: app
    script: {bundle: device}
    cache: {enabled: true}
`, bundlePath(t, "device-key"), origin.URL)
	tg := startGateway(t, src)
	get := func(ua string) (string, string) {
		_, body := scriptGet(t, tg.url("/page"), map[string]string{"User-Agent": ua})
		resp, _ := scriptGet(t, tg.url("/page"), map[string]string{"User-Agent": ua})
		return body, resp.Header.Get("Cache-Status")
	}
	mobile, mobileStatus := get("Mozilla/5.0 (iPhone) Mobile")
	desktop, desktopStatus := get("Mozilla/5.0 (X11; Linux)")
	if !strings.Contains(mobile, "device=mobile") || !strings.Contains(desktop, "device=desktop") {
		t.Fatalf("mobile %q, desktop %q: one device got the other's copy", mobile, desktop)
	}
	if !strings.Contains(mobileStatus, "hit") || !strings.Contains(desktopStatus, "hit") {
		t.Errorf("second requests were not hits: %q, %q", mobileStatus, desktopStatus)
	}
	if n := hits.Load(); n != 2 {
		t.Errorf("origin saw %d requests, want 2 (one per device type)", n)
	}
}
