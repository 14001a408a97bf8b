package config

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// sizeUnits are the units a Size may carry, longest first so "KiB" is tried
// before "B".
var sizeUnits = []struct {
	suffix string
	mult   int64
}{
	{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30},
	{"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9},
	{"B", 1},
}

var errSizeSyntax = errors.New(`want an integer number of bytes or an integer with a unit: B, KiB, MiB, GiB (1024^n) or KB, MB, GB (1000^n), as in "64KiB"`)

// parseSize reads a Size: digits, optional spaces, optional unit. Fractions,
// signs and unknown units are rejected rather than guessed at.
func parseSize(s string) (int64, error) {
	num, mult := strings.TrimSpace(s), int64(1)
	for _, u := range sizeUnits {
		if rest, ok := strings.CutSuffix(num, u.suffix); ok {
			num, mult = strings.TrimRight(rest, " "), u.mult
			break
		}
	}
	if num == "" {
		return 0, errSizeSyntax
	}
	for _, c := range []byte(num) {
		if c < '0' || c > '9' {
			return 0, errSizeSyntax
		}
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n > math.MaxInt64/mult {
		return 0, errors.New("too large")
	}
	return n * mult, nil
}

// formatSize writes n with the largest binary unit that divides it.
func formatSize(n int64) string {
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if n != 0 && n%u.mult == 0 {
			return strconv.FormatInt(n/u.mult, 10) + u.suffix
		}
	}
	return strconv.FormatInt(n, 10)
}

// parseDuration is time.ParseDuration with a hint for the common mistake of
// a bare number, which Go reads as missing a unit.
func parseDuration(s string) (time.Duration, error) {
	d, err := time.ParseDuration(strings.TrimSpace(s))
	if err != nil {
		return 0, fmt.Errorf(`%w (use Go duration syntax with a unit: "250ms", "10s", "1m30s", "2h")`, err)
	}
	return d, nil
}

// formatDuration writes whole seconds as "Ns" (so 120s stays "120s", not
// "2m0s") and anything else as time.Duration does.
func formatDuration(d time.Duration) string {
	if d%time.Second == 0 {
		return strconv.FormatInt(int64(d/time.Second), 10) + "s"
	}
	return d.String()
}
