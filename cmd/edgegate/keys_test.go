package main

import (
	"bytes"
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/edgegate/edgegate/internal/keys"
)

func TestKeysCommands(t *testing.T) {
	dir := t.TempDir()
	mkFile := filepath.Join(dir, "master.key")
	os.WriteFile(mkFile, []byte(base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{3}, 32))+"\n"), 0o600)
	cfgFile := filepath.Join(dir, "edgegate.yaml")
	os.WriteFile(cfgFile, []byte(goodConfig+"keys: {keystore: keys.json, master_key_file: master.key}\n"), 0o600)
	store := filepath.Join(dir, "keys.json")

	code, _, stderr := runCmd(t, "keys", "list", "-c", cfgFile)
	if code != 1 || !strings.Contains(stderr, "keystore does not exist") || !strings.Contains(stderr, store) {
		t.Fatalf("list before the first start: %d %q", code, stderr)
	}
	if _, err := os.Stat(store); err == nil {
		t.Fatal("keys list created a keystore")
	}
	// The gateway's first start creates it.
	mk, _ := keys.LoadMasterKey("", mkFile, os.Getenv)
	if _, err := keys.Open(keys.Options{Path: store, MasterKey: mk, Create: true, Period: 24 * time.Hour, RetireAfter: time.Hour, Symmetric: []string{"session"}}); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(store)

	code, out, stderr := runCmd(t, "keys", "list", "-c", cfgFile)
	if code != 0 {
		t.Fatalf("list: %d %s", code, stderr)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 5 || !strings.HasPrefix(lines[0], "KID") || strings.Count(out, " active ") != 2 || strings.Count(out, " pending ") != 2 {
		t.Fatalf("list output:\n%s", out)
	}
	if after, _ := os.ReadFile(store); !bytes.Equal(before, after) {
		t.Fatal("keys list wrote the keystore")
	}

	cases := []struct {
		name string
		args []string
		code int
		out  string
	}{
		{"rotate needs a reason", []string{"keys", "rotate", "-c", cfgFile}, 2, "--reason is required"},
		{"no subcommand", []string{"keys"}, 2, "usage"},
		{"unknown purpose", []string{"keys", "rotate", "-c", cfgFile, "--reason", "x", "--purpose", "nope"}, 1, `no keys for purpose "nope"`},
		{"in-memory config", []string{"keys", "list", "-c", writeFile(t, "m.yaml", goodConfig)}, 1, "no keys section"},
		{"wrong master key", []string{"keys", "list", "-c", writeFile(t, "w.yaml", goodConfig+"keys: {keystore: "+store+", master_key_env: EG_WRONG_KEY}\n")}, 1, "EG_WRONG_KEY"},
	}
	t.Setenv("EG_WRONG_KEY", strings.Repeat("w", 40))
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, out, stderr := runCmd(t, tc.args...)
			if code != tc.code || !strings.Contains(out+stderr, tc.out) {
				t.Fatalf("%d %q %q, want %d %q", code, out, stderr, tc.code, tc.out)
			}
		})
	}

	// The next key was only just published: without --force the rotation
	// is refused, since JWKS caches may not know the key yet.
	code, _, stderr = runCmd(t, "keys", "rotate", "-c", cfgFile, "--reason", "laptop stolen", "--purpose", "signing")
	if code != 1 || !strings.Contains(stderr, "too soon") {
		t.Fatalf("early rotate: %d %s", code, stderr)
	}
	code, out, stderr = runCmd(t, "keys", "rotate", "-c", cfgFile, "--reason", "laptop stolen", "--purpose", "signing", "--force")
	if code != 0 || !strings.Contains(out, "rotated signing") || strings.Contains(out, "rotated session") {
		t.Fatalf("rotate: %d %s %s", code, out, stderr)
	}
	_, out, _ = runCmd(t, "keys", "list", "-c", cfgFile)
	if !strings.Contains(out, "manual: laptop stolen") {
		t.Fatalf("reason not recorded:\n%s", out)
	}
}
