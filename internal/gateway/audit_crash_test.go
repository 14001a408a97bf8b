package gateway

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/edgegate/edgegate/internal/audit"
	"github.com/edgegate/edgegate/internal/testpeer"
	"github.com/go-jose/go-jose/v4"
)

// TestAuditSurvivesGatewayCrash runs the real edgegate binary with a file
// audit trail, sends requests whose authentication fails (each one an
// audited decision, acknowledged before its response), kills the process
// with SIGKILL in mid-stream, restarts it on the same trail, and checks
// that every request that got its answer has its record, and that the
// chain verifies across the crash. It runs with the default durability
// ("write": acknowledged once written to the kernel, which a killed
// process cannot take back) and with "fsync".
func TestAuditSurvivesGatewayCrash(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "edgegate")
	build := exec.Command("go", "build", "-o", bin, "github.com/edgegate/edgegate/cmd/edgegate")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	for _, tc := range []struct{ name, durability string }{
		{"default", ""},
		{"fsync", "\n  durability: fsync"},
	} {
		t.Run(tc.name, func(t *testing.T) { crashGateway(t, bin, tc.durability) })
	}
}

// crashGateway is one run of TestAuditSurvivesGatewayCrash; durability is
// appended to the audit section.
func crashGateway(t *testing.T, bin, durability string) {
	dir := t.TempDir()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	jwks, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: key.Public(), KeyID: "k1", Algorithm: "ES256", Use: "sig"}}})
	if err := os.WriteFile(filepath.Join(dir, "jwks.json"), jwks, 0o600); err != nil {
		t.Fatal(err)
	}
	origin := newEchoOrigin(t, "o")
	addr, err := testpeer.FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	cfg := fmt.Sprintf(`version: 1
listeners: [{address: %q}]
admin: {address: "off"}
log: {access: false, level: warn}
identity:
  issuers:
    - {name: idp, issuer: "https://idp.example", jwks_file: jwks.json, audiences: [api]}
pools: [{name: app, members: [%s]}]
routes:
  - name: api
    pool: app
    auth: {mode: bearer}
    allow: ['identity.subject != ""']
audit:
  sinks: [{type: file, path: audit/audit.jsonl}]%s
`, addr, origin.URL, durability)
	file := filepath.Join(dir, "edgegate.yaml")
	if err := os.WriteFile(file, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "audit"), 0o700); err != nil {
		t.Fatal(err)
	}
	start := func() *exec.Cmd {
		cmd := exec.Command(bin, "serve", "-c", file)
		cmd.Dir = dir
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(10 * time.Second)
		for {
			if c, err := net.Dial("tcp", addr); err == nil {
				c.Close()
				return cmd
			}
			if time.Now().After(deadline) {
				_ = cmd.Process.Kill()
				t.Fatal("gateway did not start")
			}
			time.Sleep(20 * time.Millisecond)
		}
	}

	cmd := start()
	// Clients send until the process dies; a request counts as
	// acknowledged only when its 401 arrived.
	var answered atomic.Int64
	var wg sync.WaitGroup
	ctx, cancel := context.WithCancel(context.Background())
	client := &http.Client{Timeout: 5 * time.Second}
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; ctx.Err() == nil; i++ {
				req, _ := http.NewRequest("GET", fmt.Sprintf("http://%s/w%d/%d", addr, w, i), nil)
				req.Header.Set("Authorization", "Bearer not-a-jwt-"+fmt.Sprint(i))
				resp, err := client.Do(req)
				if err != nil {
					return // the gateway is gone
				}
				resp.Body.Close()
				if resp.StatusCode == http.StatusUnauthorized {
					answered.Add(1)
				}
			}
		}(w)
	}
	for answered.Load() < 200 {
		time.Sleep(10 * time.Millisecond)
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	cancel()
	wg.Wait()
	acked := answered.Load()

	// Restart on the same trail (a torn last line is repaired), then stop
	// cleanly so the final checkpoint is written.
	cmd = start()
	_ = cmd.Process.Signal(syscall.SIGTERM)
	_ = cmd.Wait()

	files, err := audit.ExpandPaths([]string{filepath.Join(dir, "audit")})
	if err != nil {
		t.Fatal(err)
	}
	rep, err := audit.Verify(files, audit.VerifyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range rep.Problems {
		t.Errorf("audit verify: %+v", p)
	}
	failures := 0
	for _, f := range files {
		fh, err := os.Open(f)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(fh)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			if strings.Contains(line, `"kind":"authn.failure"`) {
				failures++
			}
			if strings.Contains(line, "not-a-jwt") {
				t.Fatalf("the audit trail holds a token: %s", line)
			}
		}
		fh.Close()
	}
	if int64(failures) < acked {
		t.Fatalf("%d requests were answered 401 before the crash, but only %d authn.failure records survived", acked, failures)
	}
	t.Logf("%d acknowledged requests, %d records after the crash, %d records in all", acked, failures, rep.Records)
}
