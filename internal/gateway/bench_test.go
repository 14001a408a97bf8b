package gateway

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
)

// BenchmarkForward measures one keep-alive HTTP/1.1 request through the
// whole pipeline (framing guard, hygiene, routing, forwarding) to a
// loopback origin. The client and origin share the process, so compare
// runs of this benchmark with each other (benchstat), not with bench/.
func BenchmarkForward(b *testing.B) {
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte("hello world\n"))
	}))
	defer origin.Close()
	tg := startGateway(&testing.T{}, basicConfig(origin.URL, "")+"log: {access: false}\n")
	defer tg.stop()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	url := tg.url("/bench/path?q=1")
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		resp, err := client.Get(url)
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			b.Fatalf("status %d", resp.StatusCode)
		}
	}
}
