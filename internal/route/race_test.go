//go:build race

package route

// raceEnabled is true under the race detector, whose instrumentation can
// make allocation counts meaningless.
const raceEnabled = true
