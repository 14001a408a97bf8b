//go:build !unix

package keys

// lockFile is a no-op where flock is not available: run one writer
// (gateway or edgegate keys rotate) at a time there.
func lockFile(path string) (unlock func(), err error) { return func() {}, nil }
