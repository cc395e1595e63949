#!/usr/bin/env bash
# Throughput of the API against the seed's original app, both on 127.0.0.1 with wrk.
#   seed: api/bench/seed_main.py under plain `uvicorn seed_main:app` (defaults, access log on)
#   ours: api/main.py served the way the Dockerfile's CMD serves it
# Target: ours >= 2x the seed's requests/s and p99 <= 20 ms at 32 connections.
# Env: PYTHON (default .venv/bin/python), DURATION (10s), CONNECTIONS (32), THREADS (2).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
python="${PYTHON:-$root/.venv/bin/python}"
duration="${DURATION:-10s}"
connections="${CONNECTIONS:-32}"
threads="${THREADS:-2}"

if ! command -v wrk >/dev/null; then
    echo "installing wrk" >&2
    apt-get install -y wrk >/dev/null 2>&1 || { apt-get update >/dev/null && apt-get install -y wrk >/dev/null; }
fi

export ADMIN_USER=bench
export ADMIN_PASS=bench-password
auth="Authorization: Basic $(printf '%s:%s' "$ADMIN_USER" "$ADMIN_PASS" | base64)"

work="$(mktemp -d)"
pids=()
cleanup() {
    for pid in "${pids[@]}"; do
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    rm -rf "$work"
}
trap cleanup EXIT

free_port() {
    "$python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# wait_ready URL: poll until the server answers 200 (30 s at most).
wait_ready() {
    for _ in $(seq 300); do
        if curl -fsS -o /dev/null "$1" 2>/dev/null; then
            return 0
        fi
        sleep 0.1
    done
    echo "server at $1 did not become ready" >&2
    return 1
}

# to_ms VALUE: wrk latency (e.g. 850.00us, 12.34ms, 1.20s) in milliseconds.
to_ms() {
    awk -v v="$1" 'BEGIN {
        n = v + 0
        if (v ~ /us$/) n /= 1000
        else if (v ~ /ms$/) n *= 1
        else if (v ~ /s$/) n *= 1000
        printf "%.2f", n
    }'
}

# bench NAME URL: warm up, measure, and set NAME_rps / NAME_p99 (ms).
bench() {
    local name="$1" url="$2" out="$work/$1.wrk"
    wrk -t"$threads" -c"$connections" -d2s -H "$auth" "$url" >/dev/null
    wrk -t"$threads" -c"$connections" -d"$duration" --latency -H "$auth" "$url" >"$out"
    if grep -q "Non-2xx" "$out"; then
        echo "$name: some responses were not 200:" >&2
        cat "$out" >&2
        return 1
    fi
    printf -v "${name}_rps" '%s' "$(awk '/^Requests\/sec:/ {print $2}' "$out")"
    printf -v "${name}_p99" '%s' "$(to_ms "$(awk '$1 == "99%" {print $2}' "$out")")"
}

cd "$root/api"

seed_port="$(free_port)"
"$python" -m uvicorn --app-dir bench seed_main:app --host 127.0.0.1 --port "$seed_port" \
    >"$work/seed.log" 2>"$work/seed.err" &
pids+=("$!")
wait_ready "http://127.0.0.1:$seed_port/docs"
bench seed "http://127.0.0.1:$seed_port/"
kill "${pids[0]}" && wait "${pids[0]}" 2>/dev/null || true

# Same flags and environment as the Dockerfile's CMD and ENV, on a free loopback port.
ours_port="$(free_port)"
PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1 WEB_CONCURRENCY=2 \
    "$python" -m uvicorn main:app --host 127.0.0.1 --port "$ours_port" \
    --proxy-headers --forwarded-allow-ips='*' --loop uvloop --http httptools --no-access-log \
    >"$work/ours.log" 2>"$work/ours.err" &
pids+=("$!")
wait_ready "http://127.0.0.1:$ours_port/health"
bench ours "http://127.0.0.1:$ours_port/"

# Both must have written an access log line per request, or the comparison is unfair.
seed_lines="$(wc -l <"$work/seed.log")"
ours_lines="$(wc -l <"$work/ours.log")"
head -n1 "$work/ours.log" | "$python" -c 'import json, sys; json.loads(sys.stdin.readline())'

ratio="$(awk -v a="$ours_rps" -v b="$seed_rps" 'BEGIN {printf "%.2f", a / b}')"
printf '%-6s %12s %10s %14s\n' app "requests/s" "p99 ms" "access lines"
printf '%-6s %12s %10s %14s\n' seed "$seed_rps" "$seed_p99" "$seed_lines"
printf '%-6s %12s %10s %14s\n' ours "$ours_rps" "$ours_p99" "$ours_lines"
echo "ratio ours/seed: ${ratio}x (wrk -t$threads -c$connections -d$duration, $(nproc) cores)"

if awk -v r="$ratio" -v p="$ours_p99" 'BEGIN {exit !(r >= 2 && p <= 20)}'; then
    echo "target met: >= 2x requests/s and p99 <= 20 ms"
else
    echo "target NOT met: want >= 2x requests/s and p99 <= 20 ms"
    exit 1
fi
