package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"
)

// listFlag collects a repeatable string flag.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

// runCache is `edgegate cache purge`: it posts a purge to a running
// gateway's admin API. The token comes from an environment variable or a
// file, never from the command line (which other users can see).
func runCache(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	usage := "usage: edgegate cache purge --admin URL (--token-env NAME | --token-file FILE) (--url U | --prefix P | --tag T)... [--delete]"
	if len(args) == 0 || args[0] != "purge" {
		fmt.Fprintln(stderr, usage)
		return 2
	}
	fs := newFlags("cache purge", stderr)
	admin := fs.String("admin", "http://127.0.0.1:9901", "base URL of the gateway's admin listener")
	tokenEnv := fs.String("token-env", "", "environment variable holding the purge token")
	tokenFile := fs.String("token-file", "", "file holding the purge token")
	del := fs.Bool("delete", false, "delete matching objects instead of marking them stale (invalidate)")
	var urls, prefixes, tags listFlag
	fs.Var(&urls, "url", "purge this exact URL (repeatable)")
	fs.Var(&prefixes, "prefix", "purge every URL starting with this one (repeatable)")
	fs.Var(&tags, "tag", "purge objects the origin tagged so with Cache-Tag or Surrogate-Key (repeatable)")
	if err := fs.Parse(args[1:]); err != nil {
		return 2
	}
	if fs.NArg() != 0 || len(urls)+len(prefixes)+len(tags) == 0 || (*tokenEnv == "") == (*tokenFile == "") {
		fmt.Fprintln(stderr, usage)
		return 2
	}
	var token string
	if *tokenEnv != "" {
		token = os.Getenv(*tokenEnv)
		if token == "" {
			fmt.Fprintf(stderr, "edgegate cache purge: environment variable %s is empty or unset\n", *tokenEnv)
			return 1
		}
	} else {
		b, err := os.ReadFile(*tokenFile)
		if err != nil {
			fmt.Fprintf(stderr, "edgegate cache purge: read token file: %v\n", err)
			return 1
		}
		token = strings.TrimSpace(string(b))
	}
	mode := "invalidate"
	if *del {
		mode = "delete"
	}
	body, _ := json.Marshal(map[string]any{"urls": urls, "prefixes": prefixes, "tags": tags, "mode": mode})
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimSuffix(*admin, "/")+"/cache/purge", bytes.NewReader(body))
	if err != nil {
		fmt.Fprintf(stderr, "edgegate cache purge: %v\n", err)
		return 2
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		fmt.Fprintf(stderr, "edgegate cache purge: %v\n", err)
		return 1
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	var res struct {
		Purged  int    `json:"purged"`
		Mode    string `json:"mode"`
		Message string `json:"message"`
	}
	_ = json.Unmarshal(out, &res)
	if resp.StatusCode != http.StatusOK {
		msg := res.Message
		if msg == "" {
			msg = strings.TrimSpace(string(out))
		}
		fmt.Fprintf(stderr, "edgegate cache purge: %s: %s\n", resp.Status, msg)
		return 1
	}
	fmt.Fprintf(stdout, "purged %d cache keys (%s)\n", res.Purged, res.Mode)
	return 0
}
