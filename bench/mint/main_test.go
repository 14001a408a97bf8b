package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/edgegate/edgegate/internal/authn"
)

func TestMint(t *testing.T) {
	for _, alg := range []string{"RS256", "ES256"} {
		t.Run(alg, func(t *testing.T) {
			var out bytes.Buffer
			jwks := filepath.Join(t.TempDir(), "jwks.json")
			if err := run([]string{"-alg", alg, "-n", "3", "-jwks", jwks}, &out); err != nil {
				t.Fatal(err)
			}
			lines := strings.Fields(out.String())
			if len(lines) != 3 || lines[0] == lines[1] || strings.Count(lines[0], ".") != 2 {
				t.Fatalf("tokens: %q", lines)
			}
			data, err := os.ReadFile(jwks)
			if err != nil {
				t.Fatal(err)
			}
			if n, err := authn.ParseJWKS(data); err != nil || n != 1 {
				t.Fatalf("JWKS: %d %v", n, err)
			}
		})
	}
	if err := run([]string{"-alg", "HS256"}, &bytes.Buffer{}); err == nil {
		t.Fatal("HS256 accepted")
	}
}
