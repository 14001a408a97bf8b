#!/usr/bin/env bash
# Run http-cache-tests@0.4.5 against edgegate and against Debian's nginx
# with proxy_cache, in the same run and against the same origin, print both
# per-category tables, and fail if edgegate regressed from baseline.json.
#   e2e/cache-conformance/compare.sh           compare with the baseline
#   e2e/cache-conformance/compare.sh --update  rewrite baseline.json
# Needs node (npm ci --prefix e2e) and nginx (apt-get install nginx-light);
# scripts/test-all installs both.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
suite="$root/e2e/node_modules/http-cache-tests"
update=""
[[ "${1:-}" == "--update" ]] && update="--update"

origin_port="${ORIGIN_PORT:-18000}"
eg_port="${EDGEGATE_PORT:-18080}"
nginx_port="${NGINX_PORT:-18081}"

[[ -f "$suite/cli.mjs" ]] || { echo "http-cache-tests missing: run npm ci --prefix e2e (scripts/test-all)" >&2; exit 1; }
command -v nginx >/dev/null || { echo "nginx missing: apt-get install nginx-light (scripts/test-all)" >&2; exit 1; }

work="$(mktemp -d)"
# nginx workers drop root: they must reach the cache and temp directories.
chmod 755 "$work"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

wait_port() {
  for _ in $(seq 1 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.1
  done
  echo "nothing listens on 127.0.0.1:$1" >&2
  return 1
}

(cd "$suite" && npm_config_protocol=http npm_config_port="$origin_port" npm_config_pidfile="$work/origin.pid" \
  exec node server/server.mjs) >"$work/origin.log" 2>&1 &
pids+=($!)

(cd "$root" && go build -o "$work/edgegate" ./cmd/edgegate)
sed -e "s/@PORT@/$eg_port/" -e "s/@ORIGIN@/$origin_port/" "$here/edgegate.yaml.in" >"$work/edgegate.yaml"
"$work/edgegate" serve -c "$work/edgegate.yaml" >"$work/edgegate.log" 2>&1 &
pids+=($!)

mkdir -p "$work/nginx"
sed -e "s#@PREFIX@#$work/nginx#g" -e "s/@PORT@/$nginx_port/" -e "s/@ORIGIN@/$origin_port/" "$here/nginx.conf.in" >"$work/nginx/nginx.conf"
nginx -p "$work/nginx" -c "$work/nginx/nginx.conf" -e "$work/nginx/error.log" &
pids+=($!)
nginx_version="$(nginx -v 2>&1 | sed 's#.*nginx/##')"

wait_port "$origin_port"; wait_port "$eg_port"; wait_port "$nginx_port"

run() { # base-url out.json
  (cd "$suite" && npm_config_base="$1" npm_package_config_id= node --no-warnings cli.mjs) >"$2"
  node "$here/summarize.mjs" "$2" >"${2%.json}-summary.json"
}
run "http://127.0.0.1:$eg_port" "$work/edgegate.json" &
eg_job=$!
run "http://127.0.0.1:$nginx_port" "$work/nginx.json"
wait "$eg_job"

node -e 'const f=process.argv[1]; const s=require(f); s.version=process.argv[2]; require("fs").writeFileSync(f, JSON.stringify(s))' \
  "$work/nginx-summary.json" "$nginx_version"
node "$here/table.mjs" $update "$here/baseline.json" "$work/edgegate-summary.json" "$work/nginx-summary.json" "$nginx_version"
