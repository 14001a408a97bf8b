package main

import (
	"context"
	"fmt"
	"io"
)

func runPolicy(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fmt.Fprintln(stderr, "edgegate policy: not available in this build yet")
	return 2
}
