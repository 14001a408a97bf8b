package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/edgegate/edgegate/internal/audit"
)

func TestAuditVerifyCommand(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "audit.jsonl")
	tr, err := audit.Open(audit.Options{Sinks: []audit.SinkOptions{{Type: audit.SinkFile, Path: path, RotateBytes: 2000}}, CheckpointEvery: 5})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 30 {
		if err := tr.Record(context.Background(), audit.Event{Kind: audit.KindPolicyDeny, RequestID: "r" + string(rune('a'+i%26)), Decision: "deny", Reason: "no_allow_rule"}); err != nil {
			t.Fatal(err)
		}
	}
	tr.Close()

	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"audit", "verify", dir}, &out, &errb); code != 0 {
		t.Fatalf("verify of an intact trail: exit %d\n%s%s", code, out.String(), errb.String())
	}
	if !strings.HasPrefix(out.String(), "OK: ") || !strings.Contains(out.String(), "signatures not checked") {
		t.Errorf("summary = %q", out.String())
	}

	// Change one decision in the current file.
	data, _ := os.ReadFile(path)
	lines := strings.Split(string(data), "\n")
	lines[1] = strings.Replace(lines[1], `"decision":"deny"`, `"decision":"allow"`, 1)
	os.WriteFile(path, []byte(strings.Join(lines, "\n")), 0o600)
	out.Reset()
	if code := run(context.Background(), []string{"audit", "verify", dir}, &out, &errb); code != 1 {
		t.Fatalf("verify of a tampered trail: exit %d, want 1\n%s", code, out.String())
	}
	if !strings.Contains(out.String(), path+":2: ") || !strings.Contains(out.String(), "hash: the record was changed") {
		t.Errorf("output does not pinpoint %s:2:\n%s", path, out.String())
	}

	for _, args := range [][]string{{"audit"}, {"audit", "verify"}, {"audit", "verify", filepath.Join(dir, "nope")}, {"audit", "verify", "--jwks", filepath.Join(dir, "nope.json"), dir}} {
		if code := run(context.Background(), args, &out, &errb); code != 2 {
			t.Errorf("%v: exit %d, want 2", args, code)
		}
	}
}
