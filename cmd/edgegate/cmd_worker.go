package main

import (
	"context"
	"fmt"
	"io"
)

func runWorker(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fmt.Fprintln(stderr, "edgegate worker: not available in this build yet")
	return 2
}
