package config

import (
	"strings"
	"testing"
	"time"
)

func TestParseSize(t *testing.T) {
	cases := []struct {
		in   string
		want int64
		err  string
	}{
		{"0", 0, ""},
		{"1048576", 1 << 20, ""},
		{"64KiB", 64 << 10, ""},
		{"64 KiB", 64 << 10, ""},
		{" 10MiB ", 10 << 20, ""},
		{"2GiB", 2 << 30, ""},
		{"512B", 512, ""},
		{"5KB", 5000, ""},
		{"5MB", 5_000_000, ""},
		{"1GB", 1_000_000_000, ""},
		{"8EiB", 0, "want an integer number of bytes"}, // unit not offered
		{"64kb", 0, "want an integer"},
		{"64k", 0, "want an integer"},
		{"1.5MiB", 0, "want an integer"},
		{"-1", 0, "want an integer"},
		{"+1", 0, "want an integer"},
		{"KiB", 0, "want an integer"},
		{"", 0, "want an integer"},
		{"1_000", 0, "want an integer"},
		{"0x10", 0, "want an integer"},
		{"9223372036854775807", 1<<63 - 1, ""},
		{"9223372036854775808", 0, "too large"},
		{"8589934592GiB", 0, "too large"},
	}
	for _, tc := range cases {
		t.Run(tc.in, func(t *testing.T) {
			got, err := parseSize(tc.in)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("parseSize(%q) = %d, %v; want error containing %q", tc.in, got, err, tc.err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("parseSize(%q) = %d, %v; want %d", tc.in, got, err, tc.want)
			}
		})
	}
}

func TestFormatSize(t *testing.T) {
	for n, want := range map[int64]string{0: "0", 1: "1", 1024: "1KiB", 64 << 10: "64KiB", 10 << 20: "10MiB", 3 << 30: "3GiB", 1500: "1500"} {
		if got := formatSize(n); got != want {
			t.Errorf("formatSize(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestParseDuration(t *testing.T) {
	if d, err := parseDuration(" 1m30s "); err != nil || d != 90*time.Second {
		t.Errorf("parseDuration(1m30s) = %v, %v", d, err)
	}
	_, err := parseDuration("10")
	if err == nil || !strings.Contains(err.Error(), `missing unit in duration "10" (use Go duration syntax with a unit`) {
		t.Errorf("parseDuration(10) error = %v", err)
	}
	for d, want := range map[time.Duration]string{0: "0s", 120 * time.Second: "120s", 1500 * time.Millisecond: "1.5s"} {
		if got := formatDuration(d); got != want {
			t.Errorf("formatDuration(%v) = %q, want %q", d, got, want)
		}
	}
}

// FuzzSize checks that parseSize never panics, never returns a negative
// size, and reads back what formatSize writes.
func FuzzSize(f *testing.F) {
	for _, s := range []string{"0", "64KiB", "10 MiB", "1GB", "9223372036854775807", "-1", "1.5KiB", "B"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := parseSize(s)
		if err != nil {
			return
		}
		if n < 0 {
			t.Fatalf("parseSize(%q) = %d, negative", s, n)
		}
		back, err := parseSize(formatSize(n))
		if err != nil || back != n {
			t.Fatalf("parseSize(formatSize(%d)) = %d, %v", n, back, err)
		}
	})
}

// FuzzDuration checks that parseDuration never panics and that accepted
// durations survive formatDuration.
func FuzzDuration(f *testing.F) {
	for _, s := range []string{"10s", "1m30s", "0", "-5s", "10x", "1.5h", "9999999999h"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := parseDuration(s)
		if err != nil {
			if !strings.Contains(err.Error(), "use Go duration syntax") {
				t.Fatalf("error without hint: %v", err)
			}
			return
		}
		back, err := parseDuration(formatDuration(d))
		if err != nil || back != d {
			t.Fatalf("parseDuration(formatDuration(%v)) = %v, %v", d, back, err)
		}
	})
}
