package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/edgegate/edgegate/internal/assert"
	"github.com/edgegate/edgegate/internal/identity"
	"github.com/edgegate/edgegate/internal/keys"
)

// TestOriginSidecar runs `edgegate origin` between an edge (a key ring
// publishing its JWKS and minting assertions) and an application, all on
// loopback.
func TestOriginSidecar(t *testing.T) {
	ring, err := keys.Open(keys.Options{Period: time.Hour, RetireAfter: 10 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	edge := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := ring.JWKS()
		w.Write(b)
	}))
	defer edge.Close()
	minter, err := assert.New(ring, assert.Options{Issuer: "https://edge.test", TTL: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(map[string]any{"user": r.Header.Values("X-Edgegate-User"), "email": r.Header.Get("X-Edgegate-Email"),
			"groups": r.Header.Get("X-Edgegate-Groups"), "roles": r.Header.Get("X-Edgegate-Roles"), "odd": r.Header.Get("X-Edgegate-Admin"),
			"assertion": r.Header.Get("Edgegate-Assertion"), "path": r.URL.Path})
	}))
	defer app.Close()

	addr := freeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	var stderr lockedBuffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"origin", "-jwks", edge.URL, "-issuer", "https://edge.test", "-audience", "billing",
			"-listen", addr, "-upstream", app.URL}, io.Discard, &stderr)
	}()
	defer func() {
		cancel()
		if code := <-done; code != 0 {
			t.Errorf("origin exited %d: %s", code, stderr.String())
		}
	}()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(stderr.String(), "origin sidecar listening") {
		if time.Now().After(deadline) {
			t.Fatalf("sidecar did not start: %s", stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}

	id := &identity.Identity{Method: identity.MethodSession, Subject: "u-7", Email: "grace@example.com", Groups: []string{"eng"},
		Roles: []string{"admin", "dev"}, Fingerprint: identity.Fingerprint("s")}
	good, _, _ := minter.Mint(id, "billing", "r1")
	other, _, _ := minter.Mint(id, "payroll", "r2")
	cases := []struct {
		name      string
		assertion []string
		extra     map[string]string
		status    int
		want      string
	}{
		{"verified", []string{good}, map[string]string{"X-Edgegate-User": "root", "x-edgegate-admin": "yes"}, 200, `"user":["u-7"]`},
		{"missing", nil, map[string]string{"X-Edgegate-User": "root"}, 401, `"reason":"missing"`},
		{"other audience", []string{other}, nil, 401, `"reason":"audience"`},
		{"forged", []string{"eyJhbGciOiJub25lIiwia2lkIjoieCJ9.eyJzdWIiOiJyb290In0."}, nil, 401, `"reason":"algorithm"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest("GET", "http://"+addr+"/app/x", nil)
			req.Header.Set("X-Request-Id", "req-"+strings.ReplaceAll(tc.name, " ", "-"))
			for _, a := range tc.assertion {
				req.Header.Add("Edgegate-Assertion", a)
			}
			for k, v := range tc.extra {
				req.Header[k] = []string{v}
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.status || !strings.Contains(string(body), tc.want) {
				t.Fatalf("%d %s, want %d %s", resp.StatusCode, body, tc.status, tc.want)
			}
			if tc.status == 200 {
				var got map[string]any
				json.Unmarshal(body, &got)
				if got["email"] != "grace@example.com" || got["groups"] != "eng" || got["roles"] != "admin,dev" || got["odd"] != "" ||
					got["assertion"] != "" || got["path"] != "/app/x" {
					t.Fatalf("application saw %v", got)
				}
				return
			}
			if !strings.Contains(stderr.String(), "req-"+strings.ReplaceAll(tc.name, " ", "-")) {
				t.Errorf("refusal not logged with its request ID:\n%s", stderr.String())
			}
		})
	}
	if bytes.Contains([]byte(stderr.String()), []byte(good[:30])) {
		t.Fatal("the sidecar logged an assertion")
	}

	code, _, errOut := runCmd(t, "origin", "-jwks", edge.URL)
	if code != 2 || !strings.Contains(errOut, "required") {
		t.Fatalf("missing flags: %d %s", code, errOut)
	}
}
