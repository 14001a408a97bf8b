package main

import (
	"context"
	"fmt"
	"io"
)

func runCache(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fmt.Fprintln(stderr, "edgegate cache: not available in this build yet")
	return 2
}
