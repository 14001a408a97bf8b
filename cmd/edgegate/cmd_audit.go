package main

import (
	"context"
	"fmt"
	"io"

	"github.com/edgegate/edgegate/internal/audit"
)

func runAudit(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] != "verify" {
		fmt.Fprintln(stderr, "usage: edgegate audit verify [--jwks FILE|URL] [--allow-gaps] FILE|DIR...")
		return 2
	}
	fs := newFlags("audit verify", stderr)
	jwksSrc := fs.String("jwks", "", "JWKS (file or URL) to check checkpoint signatures with, such as https://edge/.well-known/edgegate/jwks.json")
	allowGaps := fs.Bool("allow-gaps", false, "accept losses the trail itself declares in gap records (fail_open)")
	if err := fs.Parse(args[1:]); err != nil {
		return 2
	}
	if fs.NArg() == 0 {
		fmt.Fprintln(stderr, "edgegate audit verify: give the audit files (oldest first) or their directory")
		return 2
	}
	opts := audit.VerifyOptions{AllowGaps: *allowGaps}
	if *jwksSrc != "" {
		set, err := audit.LoadJWKS(ctx, *jwksSrc)
		if err != nil {
			fmt.Fprintf(stderr, "edgegate audit verify: %v\n", err)
			return 2
		}
		opts.JWKS = set
	}
	files, err := audit.ExpandPaths(fs.Args())
	if err != nil {
		fmt.Fprintf(stderr, "edgegate audit verify: %v\n", err)
		return 2
	}
	rep, err := audit.Verify(files, opts)
	if err != nil {
		fmt.Fprintf(stderr, "edgegate audit verify: %v\n", err)
		return 2
	}
	for _, p := range rep.Problems {
		fmt.Fprintln(stdout, p.String())
	}
	sigs := "signatures not checked (no --jwks)"
	if rep.SignaturesChecked {
		sigs = fmt.Sprintf("%d of %d signatures valid", rep.SignaturesValid, rep.Checkpoints)
	}
	summary := fmt.Sprintf("%d file(s), %d records, seq %d to %d, %d checkpoints (%s), %d records after the last checkpoint",
		len(rep.Files), rep.Records, rep.FirstSeq, rep.LastSeq, rep.Checkpoints, sigs, rep.Unsigned)
	if rep.Gaps > 0 {
		summary += fmt.Sprintf(", %d declared gap(s)", rep.Gaps)
	}
	if !rep.OK() {
		fmt.Fprintf(stdout, "FAILED: %d problem(s); first: %s\n%s\n", len(rep.Problems), rep.Problems[0].String(), summary)
		return 1
	}
	fmt.Fprintf(stdout, "OK: %s; head %s\n", summary, rep.Head)
	return 0
}
