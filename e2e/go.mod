// e2e holds the tests' Node.js peers, not Go code. This file makes it a
// module of its own so that `go vet ./...` and `go test ./...` of edgegate
// do not walk e2e/node_modules.
module github.com/edgegate/edgegate/e2e

go 1.26
