package script

import (
	"errors"
	"io/fs"
	"testing"

	examples "github.com/edgegate/edgegate/examples/edgeworkers"
)

// TestEmbeddedBundles loads every example bundle carried in the binary
// through LoadBundle("embedded:<name>") and starts a worker for it.
func TestEmbeddedBundles(t *testing.T) {
	entries, err := fs.ReadDir(examples.FS(), ".")
	if err != nil || len(entries) < 10 {
		t.Fatalf("embedded examples: %d entries, %v", len(entries), err)
	}
	for _, e := range entries {
		t.Run(e.Name(), func(t *testing.T) {
			b, err := LoadBundle(EmbeddedPrefix + e.Name())
			if err != nil {
				t.Fatal(err)
			}
			if b.Source != "embedded:"+e.Name() || b.Version == "" {
				t.Errorf("source %q version %q", b.Source, b.Version)
			}
			if v, err := ReadVersion(EmbeddedPrefix + e.Name()); err != nil || v != b.Version {
				t.Errorf("ReadVersion = %q, %v; want %q", v, err, b.Version)
			}
			if _, err := NewWorker(b, nil, Options{}); err != nil {
				t.Errorf("worker: %v", err)
			}
		})
	}
	for _, bad := range []string{"embedded:nope", "embedded:../dev", "embedded:dev/main.js", "embedded:", "embedded:."} {
		if _, err := LoadBundle(bad); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s: %v, want fs.ErrNotExist", bad, err)
		}
	}
}

// TestDevBundle runs the dev bundle's redirect and A/B paths (its JWT path
// needs the dev provider: internal/devmode tests it end to end).
func TestDevBundle(t *testing.T) {
	b, err := LoadBundle("embedded:dev")
	if err != nil {
		t.Fatal(err)
	}
	w, err := NewWorker(b, nil, Options{})
	if err != nil {
		t.Fatal(err)
	}
	req := newReq()
	req.Path, req.Query = "/ew/promo", ""
	if res := run(t, w, OnClientRequest, req, nil); res.Status != StatusSuccess || req.Reply == nil || req.Reply.Status != 302 || req.Reply.Header.Get("Location") != "/ew/ab/?from=promo" {
		t.Errorf("redirect: %s %v %+v", res.Status, res.Err, req.Reply)
	}
	req = newReq()
	req.Path, req.Query = "/ew/ab/", ""
	req.Header.Set("Cookie", "ab=b")
	if res := run(t, w, OnClientRequest, req, nil); res.Status != StatusSuccess || req.Route == nil || req.Route.Query == nil || *req.Route.Query != "variant=b" {
		t.Errorf("ab: %s %v %+v", res.Status, res.Err, req.Route)
	}
}
