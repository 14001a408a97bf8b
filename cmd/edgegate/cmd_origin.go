package main

import (
	"context"
	"fmt"
	"io"
)

func runOrigin(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fmt.Fprintln(stderr, "edgegate origin: not available in this build yet")
	return 2
}
