package main

import (
	"context"
	"fmt"
	"io"
)

func runKeys(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fmt.Fprintln(stderr, "edgegate keys: not available in this build yet")
	return 2
}
