#!/usr/bin/env bash
# e2e/h2spec.sh: HTTP/2 conformance of edgegate's listeners with h2spec
# (security-tests.md §8.1), over TLS (ALPN h2) and over h2c. The failures Go's
# HTTP/2 server is known to have are listed in e2e/h2spec-baseline.txt; any
# other failure, or a failure count above the baseline, fails this script.
set -euo pipefail
cd "$(dirname "$0")/.."
out=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$out"' EXIT

gobin=$(go env GOPATH)/bin
if [ ! -x "$gobin/h2spec" ]; then
  echo "installing h2spec v2.2.1 from the Go module proxy"
  (cd "$out" && GOFLAGS=-mod=mod go install github.com/summerwind/h2spec/cmd/h2spec@v2.2.1+incompatible)
fi
go build -o "$out/edgegate" ./cmd/edgegate
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj /CN=localhost \
  -keyout "$out/key.pem" -out "$out/cert.pem" 2>/dev/null

free_port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
tls_port=$(free_port); h2c_port=$(free_port); origin_port=$(free_port)
# A slow origin keeps each stream open while h2spec sends its frames, so
# the checks that need an open stream do not race the response.
python3 - "$origin_port" 2>"$out/origin.log" <<'PY' &
import http.server, sys, time
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        time.sleep(0.3)
        self.send_response(200); self.send_header("Content-Length", "3"); self.end_headers(); self.wfile.write(b"ok\n")
    do_POST = do_GET
    def log_message(self, *a): pass
http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
PY
cat > "$out/edgegate.yaml" <<YAML
version: 1
listeners:
  - {name: tls, address: "127.0.0.1:$tls_port", tls: {cert_file: cert.pem, key_file: key.pem}}
  - {name: h2c, address: "127.0.0.1:$h2c_port", h2c: true}
admin: {address: "off"}
log: {access: false, level: error}
pools: [{name: app, members: ["http://127.0.0.1:$origin_port"], retries: 0}]
routes: [{name: all, pool: app}]
YAML
"$out/edgegate" serve -c "$out/edgegate.yaml" >"$out/serve.log" 2>&1 &
for _ in $(seq 50); do
  (exec 3<>/dev/tcp/127.0.0.1/$tls_port) 2>/dev/null && break
  sleep 0.1
done

# run_mode MODE prints the failures of one h2spec run not in the baseline.
run_mode() {
  local mode=$1 args
  if [ "$mode" = tls ]; then args=(-p "$tls_port" -t -k); else args=(-p "$h2c_port"); fi
  "$gobin/h2spec" -h 127.0.0.1 "${args[@]}" -o 3 >"$out/$mode.txt" 2>&1 || true
  summary=$(grep -E '^[0-9]+ tests, ' "$out/$mode.txt" || echo "no summary")
  echo "h2spec $mode: $summary" >&2
  if [ "$summary" = "no summary" ]; then cat "$out/$mode.txt" >&2; echo "no summary"; return; fi
  failed=$(sed -n '/^Failures:/,$p' "$out/$mode.txt" | grep '×' | sed 's/^ *× *//' | sort)
  known=$(grep "^$mode: " e2e/h2spec-baseline.txt | sed "s/^$mode: //" | sort)
  comm -23 <(echo "$failed") <(echo "$known") | sed '/^$/d'
}

status=0
for mode in tls h2c; do
  new=$(run_mode "$mode")
  if [ -n "$new" ]; then
    # A few checks race the server's own response on a busy machine; a real
    # regression fails again, a race does not.
    echo "h2spec $mode: new failures, running again to tell a regression from a race" >&2
    again=$(run_mode "$mode")
    new=$(comm -12 <(echo "$new" | sort) <(echo "$again" | sort) | sed '/^$/d')
  fi
  if [ -n "$new" ]; then
    echo "h2spec $mode: failures not in e2e/h2spec-baseline.txt (twice):"; echo "$new"; status=1
  fi
done
exit $status
