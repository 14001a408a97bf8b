// Command crashchild runs an audit trail behind a tiny HTTP server, for the
// crash test in package audit: each POST /record?id=X records one event and
// answers 200 only once the record is durable. The test kills it with
// SIGKILL mid-stream and checks that every answered record survived.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/edgegate/edgegate/internal/audit"
)

func main() {
	if len(os.Args) != 4 {
		fmt.Fprintln(os.Stderr, "usage: crashchild AUDIT_FILE SPOOL_DIR fsync|write")
		os.Exit(2)
	}
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	tr, err := audit.Open(audit.Options{
		Sinks:           []audit.SinkOptions{{Type: audit.SinkFile, Path: os.Args[1], RotateBytes: 32 << 10}},
		SpoolDir:        os.Args[2],
		CheckpointEvery: 25,
		Durability:      audit.Durability(os.Args[3]),
		Logger:          log,
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println(ln.Addr().String())
	srv := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.URL.Query().Get("id")
		err := tr.Record(context.Background(), audit.Event{Kind: audit.KindPolicyAllow, RequestID: id, Route: "crash", Decision: "allow"})
		if err != nil {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusOK)
	})}
	_ = srv.Serve(ln)
}
