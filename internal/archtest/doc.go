// Package archtest holds tests that guard the architecture.
//
// The house rules that a compiler cannot check (every package says what it
// is for, test helpers stay out of production binaries, no process-wide
// mutable state) are checked here by reading the source with go/parser, so
// a violation fails `go test ./...` instead of waiting for review. The
// package has no code of its own; it exists for its tests.
package archtest
