package verifier_test

import (
	"context"
	"fmt"
	"log"
	"net/http"

	"github.com/edgegate/edgegate/pkg/verifier"
)

// An origin that only answers requests that came through the gateway,
// and greets the caller the gateway vouched for.
func Example() {
	ctx := context.Background()
	v, err := verifier.New(ctx, verifier.Options{
		JWKSURL:  "https://edge.example.com/.well-known/edgegate/jwks.json",
		Issuer:   "https://edge.example.com", // the gateway's assertion.issuer
		Audience: "billing",                  // the route's assertion.audience (default: its pool)
	})
	if err != nil {
		log.Fatal(err)
	}
	app := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, _ := verifier.FromContext(r.Context())
		fmt.Fprintf(w, "hello %s (groups %v)\n", id.Email, id.Groups)
	})
	log.Fatal(http.ListenAndServe("127.0.0.1:8080", v.Middleware(app)))
}

// Handlers behind the middleware read the identity from the request
// context; tests of such handlers can put one there with NewContext.
func ExampleFromContext() {
	ctx := verifier.NewContext(context.Background(), &verifier.Identity{Subject: "u-1", Email: "ada@example.com", Roles: []string{"admin"}})
	if id, ok := verifier.FromContext(ctx); ok {
		fmt.Println(id.Email, id.Roles)
	}
	// Output: ada@example.com [admin]
}
