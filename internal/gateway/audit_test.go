package gateway

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/edgegate/edgegate/internal/audit"
	"github.com/edgegate/edgegate/internal/config"
	"github.com/edgegate/edgegate/internal/httperr"
	"github.com/edgegate/edgegate/internal/identity"
)

func TestAuditRefusesToStart(t *testing.T) {
	dir := t.TempDir()
	// A directory where the file should be: unwritable as a file, even for root.
	ro := filepath.Join(dir, "taken")
	if err := os.MkdirAll(filepath.Join(ro, "audit.jsonl"), 0o700); err != nil {
		t.Fatal(err)
	}
	src := fmt.Sprintf("version: 1\nlisteners: [{address: \"127.0.0.1:0\"}]\nadmin: {address: \"off\"}\n"+
		"pools: [{name: app, members: [\"http://127.0.0.1:1\"]}]\nroutes: [{name: r, pool: app}]\n"+
		"audit:\n  sinks: [{name: trail, type: file, path: %q}]\n", filepath.Join(ro, "audit.jsonl"))
	file := filepath.Join(dir, "edgegate.yaml")
	os.WriteFile(file, []byte(src), 0o600)
	cfg, err := config.Load(file)
	if err != nil {
		t.Fatal(err)
	}
	g, err := New(cfg, Options{Logger: slog.New(slog.NewJSONHandler(io.Discard, nil)), AccessLog: io.Discard})
	if err == nil {
		g.Close()
		t.Fatal("New succeeded with an unwritable audit path")
	}
	if !strings.Contains(err.Error(), `sink "trail"`) || !strings.Contains(err.Error(), "audit.jsonl") {
		t.Errorf("error does not say which sink and path: %v", err)
	}
}

// TestAuditTrailHoldsNoSecrets drives requests that carry real-looking
// bearer tokens and session cookies, records decision events about them
// (as the authentication stage does, and once carelessly with the raw
// values), and checks that the audit file holds fingerprints only.
func TestAuditTrailHoldsNoSecrets(t *testing.T) {
	origin := newEchoOrigin(t, "o")
	auditFile := filepath.Join(t.TempDir(), "audit.jsonl")
	tg := startGateway(t, basicConfig(origin.URL, "")+fmt.Sprintf("audit:\n  sinks: [{type: file, path: %q}]\n  checkpoint: {every: 2}\n", auditFile))
	const jwt = "eyJhbGciOiJFUzI1NiIsImtpZCI6ImdhdGV3YXkifQ.eyJzdWIiOiJhbGljZSIsImV4cCI6MX0.MEUCIQDx7Zr0kX9bXq2Jm4-bad-signature-bytes"
	const cookie = "edgegate_session=Zm9vYmFyLXNlc3Npb24tc2VjcmV0LXZhbHVl"
	for i := range 4 {
		req, _ := http.NewRequest("GET", tg.url("/api/x"), nil)
		req.Header.Set("Authorization", "Bearer "+jwt)
		req.Header.Set("Cookie", cookie)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		e := audit.Event{Kind: audit.KindAuthnFailure, RequestID: resp.Header.Get(RequestIDHeader), Route: "r",
			Decision: "deny", Reason: "bad_signature", Fingerprint: identity.Fingerprint(jwt)}
		if i%2 == 1 {
			// A careless stage passes the raw credentials along.
			e.Detail = map[string]string{"authorization": req.Header.Get("Authorization"), "cookie": cookie, "note": "token " + jwt}
		}
		if err := tg.g.record(context.Background(), e); err != nil {
			t.Fatalf("record: %v", err)
		}
	}
	tg.stop()
	data, err := os.ReadFile(auditFile)
	if err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{jwt, "Zm9vYmFyLXNlc3Npb24tc2VjcmV0LXZhbHVl", "eyJzdWIiOiJhbGljZSIsImV4cCI6MX0"} {
		if strings.Contains(string(data), secret) {
			t.Errorf("audit file holds a secret %q", secret)
		}
		if strings.Contains(tg.logs.String(), secret) {
			t.Errorf("gateway log holds a secret %q", secret)
		}
	}
	if !strings.Contains(string(data), identity.Fingerprint(jwt)) {
		t.Error("audit file lacks the token's fingerprint")
	}
	rep, err := audit.Verify([]string{auditFile}, audit.VerifyOptions{})
	if err != nil || !rep.OK() || rep.Records < 4 {
		t.Fatalf("trail: %v %+v", err, rep)
	}
}

// TestAuditFailClosedIs503 fills the spool of an http sink whose collector
// is down and checks that record then returns the 503 a stage answers with.
func TestAuditFailClosedIs503(t *testing.T) {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	dead := ln.Addr().String()
	ln.Close()
	origin := newEchoOrigin(t, "o")
	spool := filepath.Join(t.TempDir(), "spool")
	tg := startGateway(t, basicConfig(origin.URL, "")+fmt.Sprintf(
		"audit:\n  policy: fail_closed\n  spool: {dir: %q, max_bytes: 4KiB}\n  sinks: [{name: siem, type: http, url: \"http://%s/\"}]\n", spool, dead))
	var last error
	for i := range 40 {
		last = tg.g.record(context.Background(), audit.Event{Kind: audit.KindPolicyDeny, RequestID: fmt.Sprint(i), Decision: "deny"})
		if last != nil {
			break
		}
	}
	if !errors.Is(last, audit.ErrUnavailable) {
		t.Fatalf("record with a full spool = %v, want ErrUnavailable", last)
	}
	if he := httperr.As(last); he.Status != http.StatusServiceUnavailable || he.Code != "audit.unavailable" {
		t.Errorf("error = %d %s, want 503 audit.unavailable", he.Status, he.Code)
	}
	resp, err := http.Get("http://" + tg.admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`edgegate_audit_sink_up{sink="siem"} 0`, "edgegate_audit_refused_total 1", "edgegate_audit_spool_depth "} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}
