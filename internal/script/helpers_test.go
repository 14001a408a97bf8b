package script

import (
	"context"
	"flag"
	"net/http"
	"testing"
)

// worker builds a Worker from inline files; "bundle.json" is added when
// missing.
func worker(t testing.TB, tier string, files map[string]string) *Worker {
	t.Helper()
	fs := map[string][]byte{"bundle.json": []byte(`{"edgeworker-version":"1.0"}`)}
	for k, v := range files {
		fs[k] = []byte(v)
	}
	b, err := LoadFiles(fs)
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	tr, _ := TierByName(tier)
	w, err := NewWorker(b, nil, Options{Tier: tr})
	if err != nil {
		t.Fatalf("worker: %v", err)
	}
	return w
}

func mainJS(src string) map[string]string { return map[string]string{"main.js": src} }

func newReq() *Request {
	return &Request{Method: "GET", Scheme: "https", Host: "www.example.com", Path: "/a/b", Query: "x=1&y=2", ClientIP: "192.0.2.1", Header: http.Header{"User-Agent": {"test"}, "Cookie": {"a=1; b=2"}}, Vars: NewVariables(1024)}
}

func run(t testing.TB, w *Worker, h Handler, req *Request, resp *Response) *Result {
	t.Helper()
	return w.Run(context.Background(), h, req, resp)
}

var updateMMDB = flag.Bool("update-mmdb", false, "rewrite ../config/testdata/valid/geo.mmdb")
