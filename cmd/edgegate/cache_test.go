package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/edgegate/edgegate/internal/config"
	"github.com/edgegate/edgegate/internal/gateway"
)

// TestCachePurgeCommand purges through a real gateway's admin API.
func TestCachePurgeCommand(t *testing.T) {
	hits := 0
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits++
		w.Header().Set("Cache-Control", "max-age=600")
		w.Header().Set("Cache-Tag", "news")
		fmt.Fprintf(w, "n=%d", hits)
	}))
	defer origin.Close()
	t.Setenv("EDGEGATE_CLI_PURGE", "cli-token")
	dir := t.TempDir()
	file := filepath.Join(dir, "edgegate.yaml")
	src := fmt.Sprintf(`version: 1
listeners: [{address: "127.0.0.1:0"}]
admin: {address: "127.0.0.1:0"}
log: {access: false}
cache: {purge: {token_env: EDGEGATE_CLI_PURGE}}
pools: [{name: app, members: [%s]}]
routes: [{name: all, pool: app, cache: {}}]
`, origin.URL)
	if err := os.WriteFile(file, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(file)
	if err != nil {
		t.Fatal(err)
	}
	g, err := gateway.New(cfg, gateway.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	up := make(chan gateway.Listening, 1)
	done := make(chan error, 1)
	go func() { done <- g.Serve(ctx, func(l gateway.Listening) { up <- l }) }()
	var l gateway.Listening
	select {
	case l = <-up:
	case <-time.After(10 * time.Second):
		t.Fatal("gateway did not start")
	}
	defer func() { cancel(); <-done; g.Close() }()
	get := func() string {
		resp, err := http.Get("http://" + l.Public[0] + "/story")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	get()
	admin := "http://" + l.Admin
	for _, tc := range []struct {
		name string
		args []string
		code int
		out  string
	}{
		{"usage", []string{"cache"}, 2, "usage: edgegate cache purge"},
		{"nothing to purge", []string{"cache", "purge", "--admin", admin, "--token-env", "EDGEGATE_CLI_PURGE"}, 2, "usage"},
		{"no token source", []string{"cache", "purge", "--admin", admin, "--url", "http://127.0.0.1/story"}, 2, "usage"},
		{"empty env", []string{"cache", "purge", "--admin", admin, "--token-env", "EDGEGATE_CLI_UNSET", "--url", "http://127.0.0.1/story"}, 1, "empty or unset"},
		{"bad url", []string{"cache", "purge", "--admin", admin, "--token-env", "EDGEGATE_CLI_PURGE", "--url", "story"}, 1, "400 Bad Request"},
		{"by tag", []string{"cache", "purge", "--admin", admin, "--token-env", "EDGEGATE_CLI_PURGE", "--tag", "news", "--delete"}, 0, "purged 1 cache keys (delete)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := runCmd(t, tc.args...)
			if code != tc.code || !strings.Contains(stdout+stderr, tc.out) {
				t.Errorf("exit %d, want %d; output %q, want %q", code, tc.code, stdout+stderr, tc.out)
			}
			if strings.Contains(stdout+stderr, "cli-token") {
				t.Error("the token was printed")
			}
		})
	}
	if b := get(); b != "n=2" {
		t.Errorf("after the purge the origin was not asked again: %q", b)
	}
	tokenFile := filepath.Join(dir, "token")
	os.WriteFile(tokenFile, []byte("wrong\n"), 0o600)
	if code, _, stderr := runCmd(t, "cache", "purge", "--admin", admin, "--token-file", tokenFile, "--prefix", "http://127.0.0.1/"); code != 1 || !strings.Contains(stderr, "403") {
		t.Errorf("wrong token: %d %q", code, stderr)
	}
}
