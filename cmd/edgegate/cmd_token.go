package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"syscall"
	"time"

	"github.com/edgegate/edgegate/internal/config"
	"github.com/edgegate/edgegate/internal/devidp"
	"github.com/edgegate/edgegate/internal/devmode"
)

// runToken asks the running dev provider for a short-lived access token
// and prints it on stdout (and nowhere else), for curl and API testing.
func runToken(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlags("token", stderr)
	user := fs.String("user", "", "dev user to mint the token for (required)")
	file := fs.String("c", "", "configuration with a dev_provider section (default: the built-in edgegate dev configuration)")
	aud := fs.String("aud", "", "audience of the token (default: the dev provider's first client)")
	ttl := fs.Duration("ttl", 5*time.Minute, "lifetime of the token, at most 1h")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *user == "" || fs.NArg() > 0 {
		fmt.Fprintln(stderr, "usage: edgegate token --user NAME [-c FILE] [--aud AUDIENCE] [--ttl 5m]")
		return 2
	}
	if *ttl <= 0 || *ttl > devidp.MaxMintTTL {
		fmt.Fprintf(stderr, "edgegate token: --ttl must be between 0 and %s\n", devidp.MaxMintTTL)
		return 2
	}
	var cfg *config.Config
	var err error
	if *file == "" {
		cfg, err = config.LoadBytes("(edgegate dev)", devmode.Config(devmode.DefaultAddrs))
	} else {
		cfg, err = config.Load(*file)
	}
	if err != nil {
		fmt.Fprintf(stderr, "edgegate token: %v\n", err)
		return 1
	}
	dp := cfg.DevProvider
	if dp == nil {
		fmt.Fprintln(stderr, "edgegate token: the configuration has no dev_provider section; tokens are only minted by the embedded dev provider")
		return 1
	}
	if err := devidp.CheckAddress(dp.Address, false); err != nil {
		fmt.Fprintf(stderr, "edgegate token: %v\n", err)
		return 1
	}
	body, _ := json.Marshal(devidp.MintRequest{User: *user, Audience: *aud, TTL: ttl.String()})
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+dp.Address+devidp.MintPath, bytes.NewReader(body))
	if err != nil {
		fmt.Fprintf(stderr, "edgegate token: %v\n", err)
		return 1
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := (&http.Client{}).Do(req)
	if err != nil {
		if errors.Is(err, syscall.ECONNREFUSED) {
			fmt.Fprintf(stderr, "edgegate token: no dev provider at %s: start it with `edgegate dev` first\n", dp.Address)
		} else {
			fmt.Fprintf(stderr, "edgegate token: %v\n", err)
		}
		return 1
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode != http.StatusOK {
		fmt.Fprintf(stderr, "edgegate token: the dev provider refused: %s\n", strings.TrimSpace(string(b)))
		return 1
	}
	var out struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.Unmarshal(b, &out); err != nil || out.AccessToken == "" {
		fmt.Fprintln(stderr, "edgegate token: the dev provider sent no token")
		return 1
	}
	fmt.Fprintln(stdout, out.AccessToken)
	return 0
}
