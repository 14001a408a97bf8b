package main

import (
	"context"
	"fmt"
	"io"
)

func runToken(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fmt.Fprintln(stderr, "edgegate token: not available in this build yet")
	return 2
}
