// Package edgeworkers holds the example EdgeWorkers code bundles, embedded
// so the edgegate binary carries them: `edgegate dev` runs the "dev"
// bundle from any directory, and a configuration may name any of them as
// "embedded:<name>" (see docs/edgeworkers.md).
package edgeworkers

import (
	"embed"
	"io/fs"
)

//go:embed ab-test device-key dev edgekv-redirect find-replace geo-redirect html-rewrite jwt-es256 multivariate orchestrate
var files embed.FS

// FS returns the bundles, one directory each (such as "dev/main.js").
func FS() fs.FS { return files }
