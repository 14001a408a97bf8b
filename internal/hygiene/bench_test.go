package hygiene

import (
	"context"
	"net/http"
	"net/netip"
	"testing"
)

// BenchmarkSanitize measures the hot path on a typical clean browser/API
// request (no header to remove, path already normal).
func BenchmarkSanitize(b *testing.B) {
	pol := &Policy{MaxURIBytes: 8192, TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")},
		IdentityHeaders: []string{"X-Remote-User"}}
	r := typicalRequest(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, e := pol.Sanitize(r, untrustedPeer, true); e != nil {
			b.Fatal(e)
		}
	}
}

func BenchmarkCleanPath(b *testing.B) {
	for _, p := range []string{"/api/v1/users/42/profile", "/api/v1/../v2/./users//42/%7Eprofile/"} {
		b.Run(p, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				cleanPath(p)
			}
		})
	}
}

func BenchmarkSetForwarded(b *testing.B) {
	pol := &Policy{}
	res := Result{Peer: untrustedPeer.Addr(), ClientIP: untrustedPeer.Addr(), Scheme: "https"}
	h := http.Header{}
	b.ReportAllocs()
	for b.Loop() {
		pol.SetForwarded(h, res, "api.example.com")
	}
}

// BenchmarkFraming measures the guard per request: scanning a typical head
// with a small body, then CheckFraming popping its verdict.
func BenchmarkFraming(b *testing.B) {
	head := []byte("POST /api/v1/users/42/profile?fields=name HTTP/1.1\r\nHost: api.example.com\r\n" +
		"User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0\r\n" +
		"Accept: application/json\r\nAccept-Encoding: gzip, deflate, br\r\nContent-Type: application/json\r\n" +
		"Content-Length: 26\r\nCookie: session=xyz; theme=dark\r\n\r\n{\"name\":\"a\",\"email\":\"b@c\"}")
	r, err := http.NewRequest("POST", "/", nil)
	if err != nil {
		b.Fatal(err)
	}
	r.RequestURI = "/api/v1/users/42/profile?fields=name"
	fc := GuardConn(nil)
	r = r.WithContext(ContextWithConn(context.Background(), fc))
	pol := &Policy{}
	b.SetBytes(int64(len(head)))
	b.ReportAllocs()
	for b.Loop() {
		fc.mu.Lock()
		fc.sc.scan(head)
		fc.mu.Unlock()
		if e := pol.CheckFraming(r); e != nil {
			b.Fatal(e)
		}
	}
}
