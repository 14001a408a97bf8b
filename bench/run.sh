#!/usr/bin/env bash
# bench/run.sh — edgegate's benchmark harness.
#
# Measures CPU microseconds per request of each system under test (SUT) and
# reports it as a ratio to nginx proxy_pass and to a tuned Go ReverseProxy,
# following shared/reference/benchmarks.md §1: SUT alone on CPU1, wrk and the
# origin on CPU0, loopback only, every contender run back to back in the same
# script. CPU per request is the main figure because it repeats within about
# 2 % on shared machines while requests per second move by 30-50 %.
#
# Run from the repo root:   bash bench/run.sh
#
# Environment:
#   BENCH_RUNS=3             measured runs per case
#   BENCH_SECONDS=5          seconds per measured run
#   BENCH_WARMUP=1           seconds of warm-up per case
#   BENCH_CONNECTIONS=64     wrk connections
#   BENCH_CASES=a,b          run only these cases (names from CASES below)
#   BENCH_OUT=DIR            work and result directory (default bench/out)
#   BENCH_ALLOW_MISSING=1    skip (do not fail) when edgegate does not build/start
#   BENCH_INSTALL_PEERS=1    apt-get install haproxy and caddy if missing
#   BENCH_GATE_RETRIES=1     re-runs of a run that saw foreign CPU load > 5 %
#   BENCH_GATE_BUDGET=3      re-runs allowed in total (bounds the run time when
#                            the machine stays busy)
#
# Output: a table on stdout, bench/out/results.json, logs and raw wrk/vmstat
# output under bench/out/.
set -euo pipefail
export LC_ALL=C

# ---------------------------------------------------------------------------
# Cases. One line per case: name|server|path|extra wrk header|...
# server is one of the start_<server> functions below (origin, nginx, haproxy,
# refproxy, caddy, edgegate). The URL is http://127.0.0.1:<server port><path>;
# every field after path is passed to wrk as -H '<field>'.
# To add a case, add a line; to add a server, also add a start_<server>
# function that sets PORT[<server>] and PID[<server>] (see start_refproxy).
CASES=(
	"direct|origin|/"
	"nginx|nginx|/"
	"haproxy|haproxy|/"
	"refproxy|refproxy|/"
	"caddy|caddy|/"
	"edgegate|edgegate|/"
	# Edge scripts (issue #5): the edgegate case's route plus a bundle.
	"ew-noop|edgegate_ew_noop|/"
	"ew-noop-base|edgegate_ew_noop|/base/x"
	"ew-headers|edgegate_ew_headers|/|User-Agent: Mozilla/5.0 (iPhone) Mobile"
	# Identity and policy (issues #3, #4, #7). @RS_TOKEN@ and @ES_TOKEN@ are
	# one token repeated (the verified-token cache path); @LUA=es-unique sends
	# a different ES256 token on every request (every one a signature check).
	# id-base is edgegate_id's plain route: the same process without a token,
	# so the identity cases' cost is read within one process.
	# token-base is a public route of that process that receives the same
	# request as jwt-rs256 (the Authorization header included) and removes
	# the header before the origin, as the bearer route does: it is plain
	# forwarding of the same bytes, so jwt-rs256 minus token-base is what
	# verification costs and token-base minus id-base what the larger
	# request costs.
	"id-base|edgegate_id|/x"
	"token-base|edgegate_id|/tok-base/x|Authorization: Bearer @RS_TOKEN@"
	"jwt-rs256|edgegate_id|/jwt-rs/x|Authorization: Bearer @RS_TOKEN@"
	"jwt-es256|edgegate_id|/jwt-es/x|Authorization: Bearer @ES_TOKEN@"
	"jwt-rs256-unique|edgegate_id|/jwt-rs/x|@LUA=rs-unique"
	"jwt-es256-unique|edgegate_id|/jwt-es/x|@LUA=es-unique"
	"pipeline|edgegate_id|/pipeline/x|Authorization: Bearer @RS_TOKEN@"
	# pipeline-quiet is the audited process's twin: the same template with
	# the access log and the audit section taken out, serving nothing but
	# this case (edgegate_id also serves the unique-token cases, which fill
	# its token cache and change its heap): the denominator of the
	# evidence's cost.
	"pipeline-quiet|edgegate_quiet|/pipeline/x|Authorization: Bearer @RS_TOKEN@"
	"pipeline-audited|edgegate_audited|/pipeline/x|Authorization: Bearer @RS_TOKEN@"
	"pipeline-audited-fsync|edgegate_audited_fsync|/pipeline/x|Authorization: Bearer @RS_TOKEN@"
	# The edge cache (issue #6): a stored object, served by nginx proxy_cache
	# and by edgegate without the origin.
	"nginx-cache-hit|nginx_cache|/cached"
	"cache-hit|edgegate_cache|/cached"
	# The miss path: a new query string per request (@LUA=unique-query), so
	# every request is a miss that the cache forwards and stores; cache-base
	# is the same process's uncached route with the same kind of URL.
	"cache-miss|edgegate_cache|/cached/x|@LUA=unique-query"
	"cache-base|edgegate_cache|/x|@LUA=unique-query"
	"ew-jwt|edgegate_ew_jwt|/api/|Authorization: Bearer eyJhbGciOiJFUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJiZW5jaCIsImV4cCI6NDEwMjQ0NDgwMH0.sCvxGpTwfNKweZprOWRF9s41hmYqBxLxgTkNhq08rHEbKfKyheZZGatLyQYMJFvD9zq_q2paK2JApsFNDpxY2Q"
)
# Cases whose median CPU µs/req is the denominator of the ratio columns
# (edgegate: the same route without a script).
RATIO_BASES=(nginx refproxy edgegate)
# ---------------------------------------------------------------------------

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD
BENCH=$ROOT/bench
OUT=${BENCH_OUT:-$BENCH/out}
export PATH="$PATH:/usr/local/go/bin"

RUNS=${BENCH_RUNS:-3}
DURATION=${BENCH_SECONDS:-5}
WARMUP=${BENCH_WARMUP:-1}
CONNS=${BENCH_CONNECTIONS:-64}
ONLY=${BENCH_CASES:-}
ALLOW_MISSING=${BENCH_ALLOW_MISSING:-0}
INSTALL_PEERS=${BENCH_INSTALL_PEERS:-0}
GATE_RETRIES=${BENCH_GATE_RETRIES:-1}
GATE_BUDGET=${BENCH_GATE_BUDGET:-3}
SUT_CPU=1
LOAD_CPU=0
# A run is "noisy" when processes other than the SUT, the origin and wrk used
# more than this share of one core during it (benchmarks.md §1.3).
FOREIGN_MAX_PCT=5

for v in RUNS DURATION WARMUP CONNS GATE_RETRIES GATE_BUDGET; do
	if ! [[ ${!v} =~ ^[0-9]+$ ]] || { [[ $v != GATE_* ]] && ((${!v} == 0)); }; then
		echo "run.sh: $v=${!v}: want a positive integer" >&2
		exit 2
	fi
done

log() { printf '[bench] %s\n' "$*" >&2; }
die() {
	printf '[bench] FATAL: %s\n' "$*" >&2
	exit 1
}

# ---------------------------------------------------------------------------
# Process bookkeeping: everything started here is killed on exit, whatever the
# reason for exiting.
declare -a STARTED=()
declare -A PORT=() PID=() SKIP=()
USED_PORTS=" "

cleanup() {
	local rc=$? p
	trap - EXIT INT TERM
	for p in "${STARTED[@]}"; do
		kill -TERM "$p" 2>/dev/null || true
	done
	for p in "${STARTED[@]}"; do
		# Give graceful shutdown a moment, then insist.
		for _ in 1 2 3 4 5 6 7 8 9 10; do
			kill -0 "$p" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# spawn NAME LOGFILE CMD... starts CMD in the background, records its pid in
# SPAWNED and in STARTED for cleanup.
spawn() {
	local name=$1 logf=$2
	shift 2
	"$@" >"$logf" 2>&1 &
	SPAWNED=$!
	STARTED+=("$SPAWNED")
	log "started $name (pid $SPAWNED): $*"
}

stop_pid() {
	local p=$1
	kill -TERM "$p" 2>/dev/null || true
	wait "$p" 2>/dev/null || true
}

# used_ports prints the local ports of every TCP socket, in any state: an
# established connection on a port makes bind() fail as surely as a listener.
# The hex port is converted by bash, not awk: Debian's default awk (mawk) has
# no strtonum, and a failed conversion would silently report every port free.
used_ports() {
	local f _ local_addr _rest
	for f in /proc/net/tcp /proc/net/tcp6; do
		[[ -r $f ]] || continue
		while read -r _ local_addr _rest; do
			[[ $local_addr == *:* ]] || continue
			echo $((16#${local_addr##*:}))
		done <"$f"
	done
}

# free_port sets FREE_PORT to a port that no socket uses and that this script
# has not handed out yet. It sets a variable instead of printing, because a
# $(...) caller would run it in a subshell and lose the USED_PORTS record.
# It picks below the kernel's ephemeral range, so that outgoing connections
# (ours or a neighbour's) do not take it between the check and the server's
# bind().
free_port() {
	local busy p lo=10000 hi
	hi=$(awk '{ print $1 - 1 }' /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || echo 32767)
	((hi > lo + 1000)) || hi=32767
	busy=" $(used_ports | sort -u | tr '\n' ' ') "
	for _ in $(seq 1 500); do
		p=$((lo + RANDOM % (hi - lo)))
		if [[ $busy != *" $p "* && $USED_PORTS != *" $p "* ]]; then
			USED_PORTS+="$p "
			FREE_PORT=$p
			return 0
		fi
	done
	die "no free port found"
}

# wait_http URL PID [SECONDS]: waits until URL answers 2xx, or fails when PID
# exits or time runs out.
wait_http() {
	local url=$1 pid=$2 limit=${3:-10} i
	for ((i = 0; i < limit * 20; i++)); do
		if ! kill -0 "$pid" 2>/dev/null; then
			return 1
		fi
		if curl -fsS -o /dev/null --max-time 1 "$url" 2>/dev/null; then
			return 0
		fi
		sleep 0.05
	done
	return 1
}

# render TEMPLATE DEST KEY=VALUE...: copies TEMPLATE with @KEY@ replaced.
render() {
	local tpl=$1 dest=$2 kv
	shift 2
	local -a args=(-e "s|@OUT@|$OUT|g" -e "s|@BENCH@|$BENCH|g")
	for kv in "$@"; do
		args+=(-e "s|@${kv%%=*}@|${kv#*=}|g")
	done
	sed "${args[@]}" "$tpl" >"$dest"
	if grep -v '^[[:space:]]*#' "$dest" | grep -q '@[A-Z_]*@'; then
		die "$dest: unfilled placeholder: $(grep -v '^[[:space:]]*#' "$dest" | grep -o '@[A-Z_]*@' | head -1)"
	fi
}

# ---------------------------------------------------------------------------
# /proc readers.
CLK_TCK=$(getconf CLK_TCK)

# descendants PID prints PID and all its descendants.
descendants() {
	local p=$1 c
	echo "$p"
	# The children files hold space-separated pids: words are wanted.
	# shellcheck disable=SC2013
	for c in $(cat /proc/"$p"/task/*/children 2>/dev/null); do
		descendants "$c"
	done
}

# tree_ticks PID prints utime+stime (fields 14 and 15 of /proc/PID/stat, in
# clock ticks) summed over PID and its descendants, so an nginx master and
# its worker count as one SUT. Fields are counted after the ")" that ends
# the command name, which may itself contain spaces.
tree_ticks() {
	local -a files=()
	local p
	for p in $(descendants "$1"); do
		files+=("/proc/$p/stat")
	done
	awk '{ sub(/^.*\) /, ""); t += $12 + $13 } END { print t + 0 }' "${files[@]}" 2>/dev/null || echo 0
}

# busy_ticks prints the machine's non-idle, non-steal ticks from /proc/stat.
busy_ticks() {
	awk '$1 == "cpu" { print $2 + $3 + $4 + $7 + $8; exit }' /proc/stat
}

# origin_counters prints "accepts requests" from the origin's stub_status.
origin_counters() {
	curl -fsS --max-time 2 "http://127.0.0.1:${PORT[origin]}/__bench_status" |
		awk 'NR == 3 { print $1, $3 }'
}

# ---------------------------------------------------------------------------
# Step 1: tools and binaries.
need_pkgs() {
	local -a want=() pkgs=()
	local pair
	for pair in "$@"; do
		command -v "${pair%%:*}" >/dev/null 2>&1 || want+=("${pair#*:}")
	done
	((${#want[@]} == 0)) && return 0
	pkgs=("${want[@]}")
	[[ $(id -u) == 0 ]] || die "missing packages ${pkgs[*]} and not root: install them first"
	log "installing ${pkgs[*]}"
	# A fresh machine has no package lists; install would find nothing.
	compgen -G '/var/lib/apt/lists/*_Packages*' >/dev/null || apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${pkgs[@]}" >/dev/null ||
		{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${pkgs[@]}" >/dev/null; }
}

need_pkgs nginx:nginx-light wrk:wrk jq:jq curl:curl vmstat:procps taskset:util-linux
if [[ $INSTALL_PEERS == 1 ]]; then
	need_pkgs haproxy:haproxy caddy:caddy
fi
command -v go >/dev/null || die "go not found (expected /usr/local/go/bin/go)"
(($(nproc) >= 2)) || die "need at least 2 CPUs (SUT on CPU$SUT_CPU, load on CPU$LOAD_CPU); have $(nproc)"

mkdir -p "$OUT"
rm -rf "$OUT/wrk" "$OUT/vmstat" "$OUT"/case-*.json "$OUT"/case-*.jsonl "$OUT/results.json"
mkdir -p "$OUT/wrk" "$OUT/vmstat"

# selected NAME: is case NAME selected by BENCH_CASES?
selected() { [[ -z $ONLY || ",$ONLY," == *",$1,"* ]]; }

# Servers some selected case needs.
declare -A NEEDED=()
for line in "${CASES[@]}"; do
	IFS='|' read -r -a f <<<"$line"
	selected "${f[0]}" && NEEDED[${f[1]}]=1
done
if [[ -n $ONLY ]]; then
	for name in ${ONLY//,/ }; do
		found=0
		for line in "${CASES[@]}"; do [[ ${line%%|*} == "$name" ]] && found=1; done
		((found)) || die "BENCH_CASES: unknown case $name"
	done
fi

log "building refproxy"
go build -o "$OUT/refproxy" ./bench/refproxy

# edgegate is built (and its idle RSS measured) when a selected case runs on
# an edgegate server (edgegate, edgegate_*).
NEEDS_EDGEGATE=0
for s in "${!NEEDED[@]}"; do [[ $s == edgegate* ]] && NEEDS_EDGEGATE=1; done

EDGEGATE_OK=0
EDGEGATE_WHY="edgegate not needed by the selected cases"
if ((!NEEDS_EDGEGATE)); then
	:
elif log "building edgegate" && go build -o "$OUT/edgegate" ./cmd/edgegate 2>"$OUT/edgegate-build.log"; then
	EDGEGATE_OK=1
else
	EDGEGATE_WHY="go build ./cmd/edgegate failed (see bench/out/edgegate-build.log): $(head -c 300 "$OUT/edgegate-build.log" | tr '\n' ' ')"
	rm -f "$OUT/edgegate"
	if [[ $ALLOW_MISSING != 1 ]]; then
		cat "$OUT/edgegate-build.log" >&2
		die "edgegate does not build; set BENCH_ALLOW_MISSING=1 to benchmark the others anyway"
	fi
	log "edgegate does not build; skipping it (BENCH_ALLOW_MISSING=1)"
fi

# ---------------------------------------------------------------------------
# Step 2: servers. Each start_<server> sets PORT[server] and PID[server], or
# SKIP[server] with a reason for optional peers that are not installed.

start_origin() {
	free_port
	PORT[origin]=$FREE_PORT
	rm -rf "$OUT/origin-tmp" && mkdir -p "$OUT/origin-tmp"
	render "$BENCH/origin.conf" "$OUT/origin.conf" PORT="${PORT[origin]}"
	spawn origin "$OUT/origin.log" taskset -c "$LOAD_CPU" \
		nginx -p "$OUT/origin-tmp" -c "$OUT/origin.conf" -g 'daemon off;'
	PID[origin]=$SPAWNED
	wait_http "http://127.0.0.1:${PORT[origin]}/" "${PID[origin]}" ||
		die "origin nginx did not start: $(tail -n 5 "$OUT/origin.log" "$OUT/origin-error.log" 2>/dev/null)"
	local body
	body=$(curl -fsS "http://127.0.0.1:${PORT[origin]}/")
	[[ $body == "hello world" ]] || die "origin answered $(printf %q "$body"), want hello world"
}

start_nginx() {
	free_port
	PORT[nginx]=$FREE_PORT
	rm -rf "$OUT/nginx-proxy-tmp" && mkdir -p "$OUT/nginx-proxy-tmp"
	render "$BENCH/nginx-proxy.conf" "$OUT/nginx-proxy.conf" \
		PORT="${PORT[nginx]}" ORIGIN_PORT="${PORT[origin]}"
	spawn nginx "$OUT/nginx-proxy.log" taskset -c "$SUT_CPU" \
		nginx -p "$OUT/nginx-proxy-tmp" -c "$OUT/nginx-proxy.conf" -g 'daemon off;'
	PID[nginx]=$SPAWNED
	wait_http "http://127.0.0.1:${PORT[nginx]}/" "${PID[nginx]}" ||
		die "nginx proxy did not start: $(tail -n 5 "$OUT/nginx-proxy.log" "$OUT/nginx-proxy-error.log" 2>/dev/null)"
}

start_haproxy() {
	if ! command -v haproxy >/dev/null; then
		SKIP[haproxy]="haproxy not installed (BENCH_INSTALL_PEERS=1 installs it)"
		return 0
	fi
	free_port
	PORT[haproxy]=$FREE_PORT
	render "$BENCH/haproxy.cfg" "$OUT/haproxy.cfg" PORT="${PORT[haproxy]}" ORIGIN_PORT="${PORT[origin]}"
	spawn haproxy "$OUT/haproxy.log" taskset -c "$SUT_CPU" haproxy -db -f "$OUT/haproxy.cfg"
	PID[haproxy]=$SPAWNED
	wait_http "http://127.0.0.1:${PORT[haproxy]}/" "${PID[haproxy]}" ||
		die "haproxy did not start: $(tail -n 5 "$OUT/haproxy.log")"
}

start_refproxy() {
	free_port
	PORT[refproxy]=$FREE_PORT
	spawn refproxy "$OUT/refproxy.log" env GOMAXPROCS=1 taskset -c "$SUT_CPU" \
		"$OUT/refproxy" -listen "127.0.0.1:${PORT[refproxy]}" -origin "http://127.0.0.1:${PORT[origin]}"
	PID[refproxy]=$SPAWNED
	wait_http "http://127.0.0.1:${PORT[refproxy]}/" "${PID[refproxy]}" ||
		die "refproxy did not start: $(tail -n 5 "$OUT/refproxy.log")"
}

start_caddy() {
	if ! command -v caddy >/dev/null; then
		SKIP[caddy]="caddy not installed (BENCH_INSTALL_PEERS=1 installs it)"
		return 0
	fi
	free_port
	PORT[caddy]=$FREE_PORT
	mkdir -p "$OUT/caddy-home"
	render "$BENCH/Caddyfile" "$OUT/Caddyfile" PORT="${PORT[caddy]}" ORIGIN_PORT="${PORT[origin]}"
	spawn caddy "$OUT/caddy.log" env GOMAXPROCS=1 HOME="$OUT/caddy-home" \
		XDG_CONFIG_HOME="$OUT/caddy-home" XDG_DATA_HOME="$OUT/caddy-home" \
		taskset -c "$SUT_CPU" caddy run --adapter caddyfile --config "$OUT/Caddyfile"
	PID[caddy]=$SPAWNED
	wait_http "http://127.0.0.1:${PORT[caddy]}/" "${PID[caddy]}" ||
		die "caddy did not start: $(tail -n 5 "$OUT/caddy.log")"
}

# start_edgegate_with CONFIG_TEMPLATE NAME [env/taskset prefix...]: starts
# edgegate serve on a generated config, waits for admin /readyz and for the
# listener, and sets EG_PORT, EG_PID. Returns 1 on failure.
start_edgegate_with() {
	local tpl=$1 name=$2 admin
	shift 2
	free_port
	EG_PORT=$FREE_PORT
	free_port
	admin=$FREE_PORT
	render "$tpl" "$OUT/$name.yaml" PORT="$EG_PORT" ADMIN_PORT="$admin" ORIGIN_PORT="${PORT[origin]}" "${EG_RENDER_VARS[@]}"
	spawn "$name" "$OUT/$name.log" "$@" "$OUT/edgegate" serve -c "$OUT/$name.yaml"
	EG_PID=$SPAWNED
	if ! wait_http "http://127.0.0.1:$admin/readyz" "$EG_PID" 15 ||
		! wait_http "http://127.0.0.1:$EG_PORT/" "$EG_PID" 5; then
		EDGEGATE_WHY="edgegate serve did not become ready (see bench/out/$name.log): $(tail -c 300 "$OUT/$name.log" | tr '\n' ' ')"
		stop_pid "$EG_PID"
		return 1
	fi
}

# edgegate_server SERVER TEMPLATE starts an edgegate SUT pinned to the SUT
# core with the config rendered from TEMPLATE. A missing or broken edgegate
# is fatal unless BENCH_ALLOW_MISSING=1, which skips its cases instead.
edgegate_server() {
	local server=$1 tpl=$2
	if ((EDGEGATE_OK)) && start_edgegate_with "$tpl" "$server" \
		env GOMAXPROCS=1 ${EDGEGATE_ENV:-} taskset -c "$SUT_CPU"; then
		PORT[$server]=$EG_PORT
		PID[$server]=$EG_PID
		return 0
	fi
	EDGEGATE_OK=0
	[[ $ALLOW_MISSING == 1 ]] || die "$EDGEGATE_WHY; set BENCH_ALLOW_MISSING=1 to benchmark the others anyway"
	SKIP[$server]="$EDGEGATE_WHY"
}

start_edgegate() { edgegate_server edgegate "$BENCH/edgegate.yaml"; }

# mint_tokens makes the bearer cases' key sets and tokens once, with
# bench/mint: for each of RS256 and ES256 a file of distinct tokens from one
# key; the first token is the one repeated (the verified-token cache path)
# and the file feeds the unique-token case (a signature check per request:
# the files are longer than the route's token cache). RSA signing is slow,
# so the RS256 file is shorter; its cycle still exceeds the cache 5 times.
EG_RENDER_VARS=()
RS_TOKEN="" ES_TOKEN=""
mint_tokens() {
	[[ -n $RS_TOKEN ]] && return 0
	go build -o "$OUT/mint" ./bench/mint || die "bench/mint does not build"
	"$OUT/mint" -alg RS256 -iss https://rs.bench.edgegate.test -jwks "$OUT/jwks-rs.json" \
		-n "${BENCH_UNIQUE_RS_TOKENS:-5000}" >"$OUT/tokens-rs.txt"
	RS_TOKEN=$(head -n 1 "$OUT/tokens-rs.txt")
	"$OUT/mint" -alg ES256 -iss https://es.bench.edgegate.test -jwks "$OUT/jwks-es.json" \
		-n "${BENCH_UNIQUE_TOKENS:-40000}" >"$OUT/tokens-es.txt"
	ES_TOKEN=$(head -n 1 "$OUT/tokens-es.txt")
	local a
	for a in rs es; do
		cat >"$OUT/$a-unique.lua" <<LUA
local toks = {}
for line in io.lines("$OUT/tokens-$a.txt") do toks[#toks + 1] = line end
local i = math.random(#toks)
request = function()
  i = i % #toks + 1
  return wrk.format(nil, nil, {["Authorization"] = "Bearer " .. toks[i]})
end
LUA
	done
	EG_RENDER_VARS=(JWKS_RS="$OUT/jwks-rs.json" JWKS_ES="$OUT/jwks-es.json")
}
start_edgegate_id() { mint_tokens && edgegate_server edgegate_id "$BENCH/edgegate-identity.yaml"; }
start_edgegate_audited() {
	mint_tokens
	rm -rf "$OUT/audit" && mkdir -p "$OUT/audit"
	edgegate_server edgegate_audited "$BENCH/edgegate-audited.yaml"
}
# The same with audit.durability: fsync (every response waits for the disk),
# derived from the same template so the two differ in that line only.
start_edgegate_audited_fsync() {
	mint_tokens
	rm -rf "$OUT/audit-fsync" && mkdir -p "$OUT/audit-fsync"
	sed -e 's/^  durability: write$/  durability: fsync/' -e 's|@OUT@/audit/|@OUT@/audit-fsync/|' \
		-e 's|@OUT@/access.log|@OUT@/access-fsync.log|' "$BENCH/edgegate-audited.yaml" >"$OUT/edgegate-audited-fsync.tpl"
	grep -q '^  durability: fsync$' "$OUT/edgegate-audited-fsync.tpl" || die "bench/edgegate-audited.yaml: no 'durability: write' line to turn into fsync"
	edgegate_server edgegate_audited_fsync "$OUT/edgegate-audited-fsync.tpl"
}
# The audited template without the evidence: access log off and every
# line from "audit:" on removed (the section is the file's last).
start_edgegate_quiet() {
	mint_tokens
	sed -e 's/^  access: true$/  access: false/' -e '/^audit:/,$d' "$BENCH/edgegate-audited.yaml" >"$OUT/edgegate-quiet.tpl"
	grep -q '^  access: false$' "$OUT/edgegate-quiet.tpl" && ! grep -q '^audit:' "$OUT/edgegate-quiet.tpl" ||
		die "bench/edgegate-audited.yaml: expected '  access: true' and a final 'audit:' section"
	edgegate_server edgegate_quiet "$OUT/edgegate-quiet.tpl"
}
start_edgegate_cache() {
	# A random prefix per wrk process, so a run never asks for a URL an
	# earlier run stored.
	cat >"$OUT/unique-query.lua" <<'LUA'
math.randomseed(os.time() + math.floor(os.clock() * 1e6))
local prefix = tostring(math.random(1, 2000000000))
local i = 0
request = function()
  i = i + 1
  return wrk.format(nil, wrk.path .. "?u=" .. prefix .. "-" .. i)
end
LUA
	edgegate_server edgegate_cache "$BENCH/edgegate-cache.yaml"
}

start_nginx_cache() {
	free_port
	PORT[nginx_cache]=$FREE_PORT
	rm -rf "$OUT/nginx-cache-tmp" && mkdir -p "$OUT/nginx-cache-tmp"
	render "$BENCH/nginx-cache.conf" "$OUT/nginx-cache.conf" \
		PORT="${PORT[nginx_cache]}" ORIGIN_PORT="${PORT[origin]}"
	spawn nginx_cache "$OUT/nginx-cache.log" taskset -c "$SUT_CPU" \
		nginx -p "$OUT/nginx-cache-tmp" -c "$OUT/nginx-cache.conf" -g 'daemon off;'
	PID[nginx_cache]=$SPAWNED
	wait_http "http://127.0.0.1:${PORT[nginx_cache]}/" "${PID[nginx_cache]}" ||
		die "nginx cache did not start: $(tail -n 5 "$OUT/nginx-cache.log" "$OUT/nginx-cache-error.log" 2>/dev/null)"
}

# wrk_flags ARRAY FIELDS...: the wrk flags of a case's extra fields: a
# header (with @RS_TOKEN@/@ES_TOKEN@ filled in here, so tokens never reach
# results.json), or @LUA=NAME for a request script.
wrk_flags() {
	local -n _out=$1
	shift
	local f
	for f in "$@"; do
		if [[ $f == @LUA=* ]]; then
			_out+=(-s "$OUT/${f#@LUA=}.lua")
		else
			f=${f//@RS_TOKEN@/$RS_TOKEN}
			_out+=(-H "${f//@ES_TOKEN@/$ES_TOKEN}")
		fi
	done
}
start_edgegate_ew_noop() { edgegate_server edgegate_ew_noop "$BENCH/edgegate-ew-noop.yaml"; }
start_edgegate_ew_headers() { edgegate_server edgegate_ew_headers "$BENCH/edgegate-ew-headers.yaml"; }
start_edgegate_ew_jwt() { edgegate_server edgegate_ew_jwt "$BENCH/edgegate-ew-jwt.yaml"; }

# ensure_server NAME starts NAME once.
ensure_server() {
	local s=$1
	[[ -n ${PID[$s]:-} || -n ${SKIP[$s]:-} ]] && return 0
	declare -F "start_$s" >/dev/null || die "case uses unknown server $s (no start_$s function)"
	"start_$s"
}

# ---------------------------------------------------------------------------
# Step 3: measurement.

# to_us VALUE: wrk latency ("143.00us", "1.2ms", "2.01s", "1.00m") → µs.
to_us() {
	awk -v v="$1" 'BEGIN {
		n = v + 0; u = v; sub(/^[0-9.]+/, "", u)
		f = (u == "us") ? 1 : (u == "ms") ? 1e3 : (u == "s") ? 1e6 : (u == "m") ? 6e7 : (u == "h") ? 3.6e9 : -1
		if (f < 0) { print "null"; exit }
		printf "%.1f\n", n * f
	}'
}

# times_ticks FILE: children's user+sys from bash `times` output, in ticks.
times_ticks() {
	awk -v hz="$CLK_TCK" 'NR == 2 {
		t = 0
		for (i = 1; i <= 2; i++) { split($i, a, /[ms]/); t += a[1] * 60 + a[2] }
		printf "%d\n", t * hz + 0.5
	}' "$1"
}

# measure_once CASE SERVER URL RUN ATTEMPT HEADERS...: one measured wrk run;
# prints the run as a JSON object.
measure_once() {
	local case=$1 server=$2 url=$3 run=$4 attempt=$5
	shift 5
	local -a hdr=()
	wrk_flags hdr "$@"
	local sut=${PID[$server]} org=${PID[origin]}
	local tag="$case-$run-$attempt" wout
	wout="$OUT/wrk/$tag.txt"

	# Bounded, so that it ends by itself even if this subshell is killed.
	vmstat 1 $((DURATION + 2)) >"$OUT/vmstat/$tag.txt" 2>&1 &
	local vm=$!
	local s0 o0 b0 c0
	c0=$(origin_counters)
	s0=$(tree_ticks "$sut")
	o0=$(tree_ticks "$org")
	b0=$(busy_ticks)
	local w0=$EPOCHREALTIME
	# A subshell so that `times` reports wrk's CPU alone.
	(
		taskset -c "$LOAD_CPU" wrk -t1 -c"$CONNS" -d"${DURATION}s" --latency "${hdr[@]}" "$url" >"$wout" 2>&1 || true
		times >"$wout.times"
	)
	local s1 o1 b1 c1 w1=$EPOCHREALTIME
	b1=$(busy_ticks)
	s1=$(tree_ticks "$sut")
	o1=$(tree_ticks "$org")
	c1=$(origin_counters)
	kill "$vm" 2>/dev/null || true
	wait "$vm" 2>/dev/null || true

	local wrk_t
	wrk_t=$(times_ticks "$wout.times")
	local reqs secs rps p50 p99 non2xx sockerr
	reqs=$(awk '/ requests in / { print $1 }' "$wout")
	secs=$(awk '/ requests in / { v = $4; sub(/s,?$/, "", v); print v }' "$wout")
	rps=$(awk '/^Requests\/sec:/ { print $2 }' "$wout")
	p50=$(to_us "$(awk '$1 == "50%" { print $2 }' "$wout")")
	p99=$(to_us "$(awk '$1 == "99%" { print $2 }' "$wout")")
	non2xx=$(awk '/Non-2xx or 3xx responses:/ { print $NF }' "$wout")
	sockerr=$(awk '/Socket errors:/ { gsub(/,/, ""); print $4 + $6 + $8 + $10 }' "$wout")
	if [[ -z $reqs || -z $rps || -z $secs ]]; then
		log "wrk output for $tag not understood:"
		cat "$wout" >&2
		reqs=0 rps=0 secs=$DURATION
	fi

	local sut_d=$((s1 - s0)) org_d=$((o1 - o0)) busy_d=$((b1 - b0))
	local ours=$((sut_d + wrk_t))
	[[ $server == origin ]] || ours=$((ours + org_d))
	jq -n -c \
		--argjson run "$run" --argjson attempt "$attempt" \
		--argjson requests "$reqs" --argjson seconds "$secs" --argjson rps "$rps" \
		--argjson p50 "$p50" --argjson p99 "$p99" \
		--argjson non2xx "${non2xx:-0}" --argjson sockerr "${sockerr:-0}" \
		--argjson sut "$sut_d" --argjson org "$org_d" --argjson wrk "$wrk_t" \
		--argjson busy "$busy_d" --argjson ours "$ours" --argjson hz "$CLK_TCK" \
		--argjson wall "$(awk -v a="$w0" -v b="$w1" 'BEGIN { printf "%.3f", b - a }')" \
		--argjson acc "$((${c1% *} - ${c0% *}))" --argjson oreq "$((${c1#* } - ${c0#* }))" \
		--argjson fmax "$FOREIGN_MAX_PCT" --argjson conns "$CONNS" --arg server "$server" \
		--arg wrk_file "bench/out/wrk/$tag.txt" '
		# Shares of one core over the wall time of the run (wrk start to
		# exit), which exceeds wrk'"'"'s own duration when the machine is busy.
		def pct(t): if $wall > 0 then (t * 100 / ($hz * $wall) * 10 | round / 10) else null end;
		{
			run: $run, attempt: $attempt, requests: $requests, seconds: $seconds, wall_seconds: $wall, rps: $rps,
			p50_us: $p50, p99_us: $p99, non2xx_or_3xx: $non2xx, socket_errors: $sockerr,
			sut_ticks: $sut,
			cpu_us_per_req: (if $requests > 0 then ($sut * (1e6 / $hz) / $requests * 100 | round / 100) else null end),
			sut_cpu_pct: pct($sut), origin_cpu_pct: pct($org), client_cpu_pct: pct($wrk),
			foreign_cpu_pct: pct([$busy - $ours, 0] | max),
			origin_conns_opened: $acc, origin_requests: $oreq,
			wrk_output: $wrk_file
		}
		| .noisy = (.foreign_cpu_pct != null and .foreign_cpu_pct > $fmax)
		# A proxy that reuses its origin connections opened them during the
		# warm-up; more new ones than client connections in a run means it
		# is dialling per request and the run measures that.
		| .origin_keepalive_ok = ($server == "origin" or $acc <= $conns)'
}

# Each case ends up in $OUT/case-NAME.json (the case with all its runs).
FAILED=0
declare -a CASE_FILES=()
# Cases run interleaved: every case is prepared (server started), then run 1
# of every case, then run 2 of every case, and so on. This VM's speed drifts
# over minutes, so consecutive runs of one case would fold that drift into
# the difference between two cases; interleaved, each case sees the same
# drift, and small differences (a no-op script, the audit trail) read true.
declare -A C_SERVER=() C_URL=() C_HDRS=() C_WHY=()
declare -a PREPARED=()

# prepare_case LINE starts the case's server (or records why it is skipped)
# and remembers the case for the measured runs.
prepare_case() {
	local -a f
	IFS='|' read -r -a f <<<"$1"
	local name=${f[0]} server=${f[1]} path=${f[2]}
	local -a hdrs=("${f[@]:3}")
	local cf="$OUT/case-$name.json"
	CASE_FILES+=("$cf")
	ensure_server "$server"
	local hj
	hj=$(jq -n -c '$ARGS.positional' --args "${hdrs[@]}")
	if [[ -n ${SKIP[$server]:-} ]]; then
		log "case $name: SKIPPED: ${SKIP[$server]}"
		jq -n --arg n "$name" --arg s "$server" --arg why "${SKIP[$server]}" --argjson h "$hj" \
			'{name: $n, server: $s, headers: $h, status: "skipped", reason: $why, runs: []}' >"$cf"
		return 0
	fi
	C_SERVER[$name]=$server
	C_URL[$name]="http://127.0.0.1:${PORT[$server]}$path"
	C_HDRS[$name]=$hj
	C_WHY[$name]=""
	: >"$OUT/case-$name.runs.jsonl"
	PREPARED+=("$name")
	log "case $name: ${C_URL[$name]} ($RUNS × ${DURATION}s, each after ${WARMUP}s of warm-up)"
}

# run_case_once NAME R: warm-up, then measured run R of case NAME (repeated
# when the machine was busy, within the gate's budget); a failed run ends
# the case.
run_case_once() {
	local name=$1 r=$2 server=${C_SERVER[$1]} url=${C_URL[$1]} a j bad
	local -a hdrs=() hflags=()
	mapfile -t hdrs < <(jq -r '.[]' <<<"${C_HDRS[$name]}")
	wrk_flags hflags "${hdrs[@]}"
	taskset -c "$LOAD_CPU" wrk -t1 -c"$CONNS" -d"${WARMUP}s" "${hflags[@]}" "$url" >"$OUT/wrk/$name-$r-warmup.txt" 2>&1 ||
		log "case $name: warm-up wrk failed (see bench/out/wrk/$name-$r-warmup.txt)"
	for ((a = 1; a <= GATE_RETRIES + 1; a++)); do
		j=$(measure_once "$name" "$server" "$url" "$r" "$a" "${hdrs[@]}")
		[[ $(jq -r .noisy <<<"$j") == true ]] || break
		if ((a > GATE_RETRIES || GATE_BUDGET == 0)); then
			log "case $name run $r: foreign CPU $(jq -r .foreign_cpu_pct <<<"$j") % > $FOREIGN_MAX_PCT %: kept, marked noisy"
			break
		fi
		GATE_BUDGET=$((GATE_BUDGET - 1))
		log "case $name run $r: foreign CPU $(jq -r .foreign_cpu_pct <<<"$j") % > $FOREIGN_MAX_PCT %: re-running"
	done
	echo "$j" >>"$OUT/case-$name.runs.jsonl"
	log "case $name run $r: $(jq -r '"\(.cpu_us_per_req) µs/req, \(.rps) req/s, p50 \(.p50_us) µs, p99 \(.p99_us) µs, SUT \(.sut_cpu_pct) %, wrk \(.client_cpu_pct) %, foreign \(.foreign_cpu_pct) %, origin conns opened \(.origin_conns_opened)"' <<<"$j")"
	if [[ $(jq -r .origin_keepalive_ok <<<"$j") != true ]]; then
		log "case $name run $r: WARNING: $(jq -r .origin_conns_opened <<<"$j") new origin connections during the run: upstream keep-alive is not working"
	fi
	bad=$(jq -r 'if .requests == 0 then "no requests completed"
		elif .non2xx_or_3xx > 0 then "\(.non2xx_or_3xx) non-2xx/3xx responses"
		elif .socket_errors > 0 then "\(.socket_errors) socket errors"
		else "" end' <<<"$j")
	if [[ -n $bad ]]; then
		C_WHY[$name]="run $r: $bad (see bench/out/wrk/$name-$r-$a.txt)"
		log "case $name: FAILED: ${C_WHY[$name]}"
		sed 's/^/    /' "$OUT/wrk/$name-$r-$a.txt" >&2
		FAILED=1
	fi
}

# finish_case NAME writes the case's summary (medians over its runs).
finish_case() {
	local name=$1
	jq -s --arg n "$name" --arg s "${C_SERVER[$name]}" --arg url "${C_URL[$name]}" --argjson h "${C_HDRS[$name]}" --arg why "${C_WHY[$name]}" '
		def median: sort | if length == 0 then null elif length % 2 == 1 then .[length / 2 | floor]
			else (.[length / 2 - 1] + .[length / 2]) / 2 end;
		{
			name: $n, server: $s, url: $url, headers: $h,
			status: (if $why == "" then "ok" else "failed" end),
			reason: (if $why == "" then null else $why end),
			cpu_us_per_req: {median: (map(.cpu_us_per_req) | median), min: (map(.cpu_us_per_req) | min), max: (map(.cpu_us_per_req) | max)},
			rps_median: (map(.rps) | median),
			p50_us_median: (map(.p50_us) | median),
			p99_us_median: (map(.p99_us) | median),
			noisy_runs: (map(select(.noisy)) | length),
			origin_keepalive_ok: all(.origin_keepalive_ok),
			runs: .
		}' "$OUT/case-$name.runs.jsonl" >"$OUT/case-$name.json"
}

# idle_rss NAME PID: VmHWM (KiB) of PID after 1 s idle.
idle_rss() {
	sleep 1
	awk '/^VmHWM:/ { print $2 }' "/proc/$2/status"
}

# ---------------------------------------------------------------------------
# Run.
log "machine: $(nproc) CPUs, $(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo), kernel $(uname -r)"
log "topology: SUT on CPU$SUT_CPU; wrk and origin on CPU$LOAD_CPU; $CONNS connections; $RUNS × ${DURATION}s per case"
start_origin

# Idle memory: edgegate as a developer runs it (dev-like config, no pinning,
# default GOMAXPROCS), and refproxy measured the same way for reference.
RSS_EDGEGATE=null RSS_REFPROXY=null
if ((EDGEGATE_OK)); then
	if start_edgegate_with "$BENCH/edgegate-dev.yaml" edgegate-dev; then
		RSS_EDGEGATE=$(idle_rss edgegate-dev "$EG_PID")
		stop_pid "$EG_PID"
	else
		[[ $ALLOW_MISSING == 1 ]] || die "$EDGEGATE_WHY; set BENCH_ALLOW_MISSING=1 to benchmark the others anyway"
		log "edgegate dev-like config did not start; idle RSS not measured"
	fi
fi
free_port
rp_port=$FREE_PORT
spawn refproxy-idle "$OUT/refproxy-idle.log" "$OUT/refproxy" -listen "127.0.0.1:$rp_port" -origin "http://127.0.0.1:${PORT[origin]}"
rp_pid=$SPAWNED
if wait_http "http://127.0.0.1:$rp_port/" "$rp_pid"; then
	RSS_REFPROXY=$(idle_rss refproxy-idle "$rp_pid")
fi
stop_pid "$rp_pid"

for line in "${CASES[@]}"; do
	selected "${line%%|*}" || continue
	prepare_case "$line"
done
for ((r = 1; r <= RUNS; r++)); do
	for name in "${PREPARED[@]}"; do
		[[ -z ${C_WHY[$name]} ]] && run_case_once "$name" "$r"
	done
done
for name in "${PREPARED[@]}"; do
	finish_case "$name"
done

# ---------------------------------------------------------------------------
# Step 4: report.
go_version=$(go version | awk '{ print $3 }')
cat "${CASE_FILES[@]}" | jq -s \
	--argjson nproc "$(nproc)" \
	--arg model "$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)" \
	--arg kernel "$(uname -r)" \
	--arg go "$go_version" \
	--arg nginx "$(nginx -v 2>&1 | sed 's/^nginx version: //')" \
	--arg wrk "$(wrk -v 2>&1 | head -1 | awk '{ print $2 }')" \
	--arg date "$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
	--arg commit "$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)" \
	--argjson hz "$CLK_TCK" \
	--argjson runs "$RUNS" --argjson secs "$DURATION" --argjson warm "$WARMUP" --argjson conns "$CONNS" \
	--argjson sut "$SUT_CPU" --argjson load "$LOAD_CPU" \
	--argjson rss_eg "$RSS_EDGEGATE" --argjson rss_rp "$RSS_REFPROXY" \
	--argjson fmax "$FOREIGN_MAX_PCT" \
	--argjson bases "$(jq -n -c '$ARGS.positional' --args "${RATIO_BASES[@]}")" '
	. as $cases
	| (reduce $cases[] as $c ({}; .[$c.name] = ($c.cpu_us_per_req.median? // null))) as $med
	| {
		machine: {nproc: $nproc, cpu_model: $model, kernel: $kernel, go_version: $go,
			nginx_version: $nginx, wrk_version: $wrk, clk_tck: $hz},
		date: $date, commit: $commit,
		settings: {runs: $runs, seconds: $secs, warmup_seconds: $warm, connections: $conns,
			sut_cpu: $sut, load_cpu: $load, foreign_cpu_max_pct: $fmax,
			wrk: "taskset -c \($load) wrk -t1 -c\($conns) -d\($secs)s --latency URL"},
		notes: [
			"cpu_us_per_req = delta(utime+stime of the SUT process tree) x (1e6/CLK_TCK) / completed requests",
			"edgegate runs with its access log off (log.access: false) for parity with nginx, HAProxy and Caddy, which log no requests",
			"idle RSS is VmHWM after startup plus 1 s idle: edgegate with bench/edgegate-dev.yaml (no pinning, default GOMAXPROCS), refproxy the same way",
			"ratio.X = this case median cpu_us_per_req / case X median"
		],
		idle_peak_rss_kib: {edgegate_dev: $rss_eg, refproxy: $rss_rp},
		cases: [$cases[] | . as $c | .ratio = (reduce $bases[] as $b ({};
			.[$b] = (if ($c.cpu_us_per_req.median? // null) != null and ($med[$b] // null) != null and $med[$b] > 0
				then ($c.cpu_us_per_req.median / $med[$b] * 100 | round / 100) else null end)))]
	}' >"$OUT/results.json" 2>"$OUT/jq.err" ||
	{ cat "$OUT/jq.err" >&2; die "could not write results.json"; }

# Table.
{
	printf '\n'
	printf 'edgegate bench  %s  (%s CPUs, %s, kernel %s, %s)\n' "$(date -u +%Y-%m-%dT%H:%MZ)" "$(nproc)" \
		"$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)" "$(uname -r)" "$go_version"
	printf 'SUT on CPU%s, wrk -t1 -c%s and origin on CPU%s; %s runs x %ss; CPU = utime+stime of the SUT per request\n' \
		"$SUT_CPU" "$CONNS" "$LOAD_CPU" "$RUNS" "$DURATION"
	printf 'edgegate access log OFF (log.access: false) for parity with nginx/HAProxy/Caddy\n\n'
	hdr_ratio=""
	for b in "${RATIO_BASES[@]}"; do hdr_ratio+=$(printf ' %10s' "x$b"); done
	printf '%-10s %-30s %10s %10s %10s%s\n' case "CPU µs/req med (min-max)" "RPS med" "p50" "p99" "$hdr_ratio"
	jq -r --args '
		def lat: if . == null then "-" elif . >= 1000 then "\(. / 1000 * 100 | round / 100)ms" else "\(. | round)us" end;
		def r2: if . == null then "-" else (. * 100 | round / 100 | tostring) end;
		.cases[] |
		if .status == "skipped" then [.name, "skipped: \(.reason)"] | @tsv
		else [.name,
			"\(.cpu_us_per_req.median | r2) (\(.cpu_us_per_req.min | r2)-\(.cpu_us_per_req.max | r2))"
				+ (if .status == "failed" then " FAILED" else "" end)
				+ (if .noisy_runs > 0 then " ~" else "" end)
				+ (if .origin_keepalive_ok then "" else " !ka" end),
			(.rps_median // 0 | round | tostring), (.p50_us_median | lat), (.p99_us_median | lat)]
			+ [.ratio[$ARGS.positional[]] | r2] | @tsv
		end' "${RATIO_BASES[@]}" <"$OUT/results.json" |
		while IFS=$'\t' read -r -a row; do
			if [[ ${row[1]} == skipped:* ]]; then
				printf '%-10s %s\n' "${row[0]}" "${row[1]:0:110}"
				continue
			fi
			line=$(printf '%-10s %-30s %10s %10s %10s' "${row[@]:0:5}")
			for v in "${row[@]:5}"; do
				if [[ $v == - ]]; then line+=$(printf ' %10s' -); else line+=$(printf ' %10.2f' "$v"); fi
			done
			printf '%s\n' "$line"
		done
	printf '\n~ = a run saw foreign CPU load > %s %% of a core (noisy); !ka = the proxy opened new origin connections (no keep-alive)\n' "$FOREIGN_MAX_PCT"
	printf 'idle peak RSS (VmHWM, startup + 1 s idle): edgegate dev-like %s, refproxy %s\n' \
		"$([[ $RSS_EDGEGATE == null ]] && echo "not measured" || echo "$((RSS_EDGEGATE / 1024)) MiB ($RSS_EDGEGATE KiB)")" \
		"$([[ $RSS_REFPROXY == null ]] && echo "not measured" || echo "$((RSS_REFPROXY / 1024)) MiB ($RSS_REFPROXY KiB)")"
	printf 'results: bench/out/results.json\n'
}

if ((FAILED)); then
	die "at least one case failed (see above)"
fi
