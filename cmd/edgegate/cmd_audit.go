package main

import (
	"context"
	"fmt"
	"io"
)

func runAudit(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fmt.Fprintln(stderr, "edgegate audit: not available in this build yet")
	return 2
}
