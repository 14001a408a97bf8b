// Command mint makes the bearer tokens and key set of edgegate's bearer
// benchmarks: it generates an RS256 or ES256 key, writes the public JWKS,
// and prints N signed tokens (one per line), or serves the JWKS on a
// loopback address for a jwks_url issuer.
//
//	go run ./bench/mint -alg RS256 -n 1000 -jwks out/jwks.json > out/tokens.txt
//	go run ./bench/mint -alg ES256 -serve 127.0.0.1:9555 -jwks out/jwks.json
//
// The tokens carry iss (-iss), aud (-aud), sub, iat and exp (now + -ttl)
// and a unique jti each; with -n 1 the same token can be repeated to
// measure the verified-token cache. The private key never leaves the
// process: mint and serve in one run, or mint again after a restart.
package main

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/golang-jwt/jwt/v5"
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "mint:", err)
		os.Exit(1)
	}
}

func run(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("mint", flag.ContinueOnError)
	alg := fs.String("alg", "RS256", "RS256 or ES256")
	n := fs.Int("n", 1, "number of tokens to print")
	iss := fs.String("iss", "https://bench.edgegate.test", "iss claim")
	aud := fs.String("aud", "api://bench", "aud claim")
	ttl := fs.Duration("ttl", time.Hour, "token lifetime (exp - iat)")
	kid := fs.String("kid", "bench-1", "key ID")
	jwksOut := fs.String("jwks", "", "write the public JWKS to this file")
	serve := fs.String("serve", "", "serve the JWKS at http://ADDR/jwks (and discovery) until killed")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var (
		priv   crypto.Signer
		method jwt.SigningMethod
		err    error
	)
	switch *alg {
	case "RS256":
		priv, err = rsa.GenerateKey(rand.Reader, 2048)
		method = jwt.SigningMethodRS256
	case "ES256":
		priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		method = jwt.SigningMethodES256
	default:
		return errors.New("-alg must be RS256 or ES256")
	}
	if err != nil {
		return err
	}
	set, err := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: priv.Public(), KeyID: *kid, Algorithm: *alg, Use: "sig"}}})
	if err != nil {
		return err
	}
	if *jwksOut != "" {
		if err := os.WriteFile(*jwksOut, append(set, '\n'), 0o644); err != nil {
			return err
		}
	}
	now := time.Now()
	for i := range *n {
		tok := jwt.NewWithClaims(method, jwt.MapClaims{
			"iss": *iss, "aud": *aud, "sub": "bench-user", "jti": strconv.Itoa(i),
			"iat": now.Unix(), "exp": now.Add(*ttl).Unix(), "scope": "read",
		})
		tok.Header["kid"] = *kid
		s, err := tok.SignedString(priv)
		if err != nil {
			return err
		}
		if _, err := fmt.Fprintln(stdout, s); err != nil {
			return err
		}
	}
	if *serve == "" {
		return nil
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/jwks", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "max-age=3600")
		_, _ = w.Write(set)
	})
	mux.HandleFunc("/.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]string{"issuer": *iss, "jwks_uri": "http://" + *serve + "/jwks"})
	})
	srv := &http.Server{Addr: *serve, Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	return srv.ListenAndServe()
}
