package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
)

func TestProxyForwardsToOrigin(t *testing.T) {
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Seen-Path", r.URL.RequestURI())
		w.Header().Set("X-Seen-XFF", r.Header.Get("X-Forwarded-For"))
		io.WriteString(w, "hello world\n")
	}))
	defer origin.Close()
	target, err := url.Parse(origin.URL)
	if err != nil {
		t.Fatal(err)
	}
	front := httptest.NewServer(newProxy(target))
	defer front.Close()

	req, err := http.NewRequest(http.MethodGet, front.URL+"/a/b?c=d", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Forwarded-For", "203.0.113.9")
	resp, err := front.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || string(body) != "hello world\n" {
		t.Errorf("got %d %q, want 200 %q", resp.StatusCode, body, "hello world\n")
	}
	if got := resp.Header.Get("X-Seen-Path"); got != "/a/b?c=d" {
		t.Errorf("origin saw path %q, want /a/b?c=d", got)
	}
	// Rewrite strips client X-Forwarded-For; the reference proxy must not
	// pass it through, or it would do less work than edgegate.
	if got := resp.Header.Get("X-Seen-XFF"); got != "" {
		t.Errorf("origin saw X-Forwarded-For %q, want it stripped", got)
	}
}

func TestBufferPoolKeepsSize(t *testing.T) {
	bp := newBufferPool()
	b := bp.Get()
	if len(b) != copyBufferSize {
		t.Fatalf("Get len = %d, want %d", len(b), copyBufferSize)
	}
	bp.Put(b[:10])
	bp.Put(make([]byte, 5)) // wrong capacity: must be dropped
	for range 3 {
		if got := len(bp.Get()); got != copyBufferSize {
			t.Fatalf("Get after Put len = %d, want %d", got, copyBufferSize)
		}
	}
}

func TestRunRejectsBadOrigin(t *testing.T) {
	for _, origin := range []string{"", "127.0.0.1:80", "ftp://x/"} {
		t.Run(origin, func(t *testing.T) {
			if err := run([]string{"-listen", "127.0.0.1:0", "-origin", origin}, io.Discard); err == nil {
				t.Errorf("run with -origin %q: want error", origin)
			}
		})
	}
}
