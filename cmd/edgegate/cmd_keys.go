package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/edgegate/edgegate/internal/config"
	"github.com/edgegate/edgegate/internal/keys"
)

// runKeys is `edgegate keys list|rotate`. Both work on the keystore file
// named by the configuration; a running gateway notices a rotation within
// its poll interval (at most 30s) or at once on reload (SIGHUP).
func runKeys(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || (args[0] != "list" && args[0] != "rotate") {
		fmt.Fprintln(stderr, "usage: edgegate keys list -c FILE\n       edgegate keys rotate -c FILE --reason TEXT [--purpose signing|session]")
		return 2
	}
	sub := args[0]
	fs := newFlags("keys "+sub, stderr)
	file := fs.String("c", "", "configuration file (required)")
	reason := fs.String("reason", "", "why the keys are rotated; recorded in the keystore and the audit trail (required for rotate)")
	purpose := fs.String("purpose", "", "rotate only this purpose (signing, session); default all")
	force := fs.Bool("force", false, "rotate even if the next signing key was published too recently for JWKS caches to know it (an emergency)")
	if err := fs.Parse(args[1:]); err != nil {
		return 2
	}
	if *file == "" || fs.NArg() != 0 {
		fmt.Fprintf(stderr, "edgegate keys %s: -c FILE is required (and nothing else)\n", sub)
		return 2
	}
	if sub == "rotate" && strings.TrimSpace(*reason) == "" {
		fmt.Fprintln(stderr, "edgegate keys rotate: --reason is required; it is recorded with the rotation")
		return 2
	}
	cfg, err := config.Load(*file)
	if err != nil {
		fmt.Fprintf(stderr, "edgegate keys: %v\n", err)
		return 1
	}
	kc := cfg.Keys
	if kc.InMemory {
		fmt.Fprintln(stderr, "edgegate keys: the configuration has no keys section, so the gateway keeps its keys in memory; there is no keystore to work on")
		return 1
	}
	mk, err := keys.LoadMasterKey(kc.MasterKeyEnv, kc.MasterKeyFile, os.Getenv)
	if err != nil {
		fmt.Fprintf(stderr, "edgegate keys: keystore %s: %v\n", kc.Keystore, err)
		return 1
	}
	ring, err := keys.Open(keys.Options{Path: kc.Keystore, MasterKey: mk, ReadOnly: sub == "list",
		Algorithm: keys.Algorithm(kc.Algorithm), Period: kc.Rotation, RetireAfter: kc.RetireAfter, SymmetricRetireAfter: kc.SessionRetireAfter})
	if err != nil {
		if errors.Is(err, keys.ErrNoKeystore) {
			fmt.Fprintf(stderr, "edgegate keys: %v (the gateway creates it on first start)\n", err)
			return 1
		}
		fmt.Fprintf(stderr, "edgegate keys: %v\n", err)
		return 1
	}
	if sub == "rotate" {
		var purposes []string
		if *purpose != "" {
			purposes = []string{*purpose}
		}
		events, err := ring.Rotate(strings.TrimSpace(*reason), *force, purposes...)
		if err != nil {
			fmt.Fprintf(stderr, "edgegate keys rotate: %v\n", err)
			return 1
		}
		for _, e := range events {
			if e.Action == "activate" {
				fmt.Fprintf(stdout, "rotated %s: %s now signs (was %s)\n", e.Purpose, e.KID, e.Previous)
			}
		}
		fmt.Fprintf(stdout, "keystore %s updated; a running gateway picks it up within 30s or on reload\n", kc.Keystore)
	}
	printKeys(stdout, ring.Keys(), time.Now())
	return 0
}

func printKeys(w io.Writer, ks []keys.Key, now time.Time) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "KID\tPURPOSE\tALG\tSTATE\tCREATED\tSIGNS FROM\tSIGNS UNTIL\tRETIRES AT\tREASON")
	f := func(t time.Time) string { return t.UTC().Format(time.RFC3339) }
	for _, k := range ks {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", k.ID, k.Purpose, k.Alg, k.State(now), f(k.Created), f(k.SignsFrom), f(k.SignsUntil), f(k.RetireAt), k.Reason)
	}
	tw.Flush()
}
