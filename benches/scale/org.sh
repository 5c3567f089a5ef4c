#!/usr/bin/env bash
# Organization scale benchmark: `cwfix plan --org` over ACCOUNTS accounts x REGIONS regions,
# against the moto test bed behind the 50 ms latency proxy, compared with one account.
#
#   bash benches/scale/org.sh                        # 100 accounts x 4 regions, 3 runs each
#   ORG_ACCOUNTS=20 ORG_RUNS=1 bash benches/scale/org.sh
#   ORG_CONCURRENCY="64 400" bash benches/scale/org.sh  # --concurrency values to measure
#   CWFIX=/path/to/cwfix bash benches/scale/org.sh   # another binary or a wrapper (e.g. perf record)
#
# Seeds an organization through the AWS API (benches/scale/seed_scale.py seed-org): the
# management account and ORG_ACCOUNTS-1 members from CreateAccount; in every account and
# region a multi-region trail delivering to a log group there with ORG_FILTERS (20) unrelated
# filters + 5 CIS filters, ORG_ALARMS (30) alarms (5 of them CIS alarms on a topic with a
# confirmed subscriber). cwfix then talks to benches/scale/cache_proxy.py, which waits
# ORG_DELAY_MS (50) per call and, after one warm-up run per command that is not counted,
# answers from its cache (keyed by the caller's access key, so accounts stay apart).
#
# Measured per command (one account: `cwfix plan --region x4`; the organization:
# `cwfix plan --org --region x4 --concurrency N`): median and minimum wall time, cwfix's CPU
# seconds (user + system, median), peak RSS of cwfix (/usr/bin/time -v), calls through the proxy (total and per account-region), the CPU
# seconds the proxy and moto used during the counted runs, and the load average before and
# after. Results: stdout and target/scale-org.txt. Recorded figures: docs/scale.md.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$repo"
ACCOUNTS="${ORG_ACCOUNTS:-100}"
RUNS="${ORG_RUNS:-3}"
DELAY="${ORG_DELAY_MS:-50}"
CONCURRENCY="${ORG_CONCURRENCY:-64 128 400}"
FILTERS="${ORG_FILTERS:-20}"
ALARMS="${ORG_ALARMS:-30}"
REGIONS=(us-east-1 eu-west-1 ap-southeast-2 us-west-2)

bash scripts/setup-moto.sh >/dev/null
venv="${CWFIX_MOTO_VENV:-$repo/.venv-moto}"
py="$venv/bin/python"
# CWFIX=PATH measures another binary (or a wrapper, e.g. one that runs it under `perf record`).
if [ -n "${CWFIX:-}" ]; then
    cwfix="$CWFIX"
else
    echo "building cwfix (release)..." >&2
    cargo build --release --quiet --bin cwfix
    cwfix="${CARGO_TARGET_DIR:-$repo/target}/release/cwfix"
fi
[ -x /usr/bin/time ] || { echo "org scale: /usr/bin/time is missing (apt-get install time)" >&2; exit 1; }

work="$(mktemp -d "${TMPDIR:-/tmp}/cwfix-org-scale.XXXXXX")"
moto_pid=""; proxy_pid=""
cleanup() {
    [ -n "$proxy_pid" ] && kill "$proxy_pid" 2>/dev/null
    [ -n "$moto_pid" ] && kill "$moto_pid" 2>/dev/null
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

"$cwfix" baselines show cis-v7.0 -o json > "$work/baseline.json"
"$py" tests/moto/launcher.py --host 127.0.0.1 --port 0 --port-file "$work/port" --quiet > "$work/moto.log" 2>&1 &
moto_pid=$!
for _ in $(seq 200); do [ -s "$work/port" ] && break; sleep 0.1; done
[ -s "$work/port" ] || { echo "org scale: launcher did not start" >&2; cat "$work/moto.log" >&2; exit 1; }
url="http://127.0.0.1:$(cat "$work/port")"
csv="$(IFS=,; echo "${REGIONS[*]}")"
echo "seeding $ACCOUNTS accounts x ${#REGIONS[@]} regions..." >&2
seeded="$("$py" benches/scale/seed_scale.py "$url" seed-org --members "$((ACCOUNTS - 1))" --regions "$csv" \
    --baseline "$work/baseline.json" --filters "$FILTERS" --alarms "$ALARMS")"
echo "seeded: $seeded" >&2
"$py" benches/scale/cache_proxy.py "$url" --delay-ms "$DELAY" --port-file "$work/pport" > "$work/proxy.log" 2>&1 &
proxy_pid=$!
for _ in $(seq 100); do [ -s "$work/pport" ] && break; sleep 0.1; done
[ -s "$work/pport" ] || { echo "org scale: proxy did not start" >&2; cat "$work/proxy.log" >&2; exit 1; }
endpoint="http://127.0.0.1:$(cat "$work/pport")"

cpu_of() { awk -v hz="$(getconf CLK_TCK)" '{print ($14 + $15) / hz}' "/proc/$1/stat"; }
rargs=(); for r in "${REGIONS[@]}"; do rargs+=(--region "$r"); done

# measure LABEL ACCOUNT_REGIONS ARGS...: one warm-up run, then RUNS counted runs.
measure() {
    local label="$1" ars="$2"; shift 2
    local times=() cpus=() rss=0 calls=0 pcpu=0 mcpu=0 load0 load1
    load0="$(cut -d' ' -f1-3 /proc/loadavg)"
    for i in $(seq 0 "$RUNS"); do
        curl -sf -X POST "$endpoint/_proxy/calls/reset" >/dev/null
        local p0 m0; p0="$(cpu_of "$proxy_pid")"; m0="$(cpu_of "$moto_pid")"
        set +e
        env -u AWS_PROFILE -u AWS_SESSION_TOKEN AWS_ENDPOINT_URL="$endpoint" AWS_ACCESS_KEY_ID=testing \
            AWS_SECRET_ACCESS_KEY=testing AWS_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true NO_COLOR=1 \
            AWS_CONFIG_FILE="$work/none" AWS_SHARED_CREDENTIALS_FILE="$work/none" \
            /usr/bin/time -v -o "$work/time" "$cwfix" plan "${rargs[@]}" -o json --subscribe email:secops@example.com "$@" \
            > "$work/plan.json" 2> "$work/plan.err"
        local rc=$?
        set -e
        if [ "$rc" -ne 0 ] && [ "$rc" -ne 2 ] && [ "$rc" -ne 3 ]; then
            echo "org scale: cwfix plan $* exited $rc:" >&2; tail -20 "$work/plan.err" >&2; exit 1
        fi
        [ "$i" -eq 0 ] && continue  # the warm-up fills the proxy's cache
        pcpu="$(awk -v a="$pcpu" -v b="$p0" -v c="$(cpu_of "$proxy_pid")" 'BEGIN {printf "%.2f", a + c - b}')"
        mcpu="$(awk -v a="$mcpu" -v b="$m0" -v c="$(cpu_of "$moto_pid")" 'BEGIN {printf "%.2f", a + c - b}')"
        local wall kb
        wall="$(awk -F': ' '/Elapsed \(wall clock\)/ {n = split($2, p, ":"); s = 0; for (i = 1; i <= n; i++) s = s * 60 + p[i]; print s}' "$work/time")"
        kb="$(awk -F': ' '/Maximum resident set size/ {print $2}' "$work/time")"
        times+=("$wall"); [ "$kb" -gt "$rss" ] && rss=$kb
        cpus+=("$(awk -F': ' '/User time|System time/ {s += $2} END {printf "%.2f", s}' "$work/time")")
        calls="$(curl -sf "$endpoint/_proxy/calls" | "$py" -c 'import json,sys; d=json.load(sys.stdin); print(d["total"], d["misses"])')"
    done
    load1="$(cut -d' ' -f1-3 /proc/loadavg)"
    local med min cpu; read -r med min < <(printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)], a[1]}')
    cpu="$(printf '%s\n' "${cpus[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')"
    local total="${calls%% *}" misses="${calls##* }"
    local accts; accts="$("$py" -c 'import json,sys; d=json.load(open(sys.argv[1])); print(len(d["accounts"]) if "accounts" in d else 1, len(d.get("errors", [])))' "$work/plan.json")"
    printf '%-22s %-9s %-6s %-6s %-6s %-7s %-7s %-9s %-7s %-8s %-8s %-15s %s\n' "$label" "${accts% *}/${accts#* }" "$med" "$min" "$cpu" \
        "$((rss / 1024))" "$total" "$(awk -v t="$total" -v n="$ars" 'BEGIN {printf "%.1f", t / n}')" "$misses" \
        "$(awk -v c="$pcpu" -v r="$RUNS" 'BEGIN {printf "%.2f", c / r}')" "$(awk -v c="$mcpu" -v r="$RUNS" 'BEGIN {printf "%.2f", c / r}')" \
        "$load0" "$load1" | tee -a "$work/report"
    MED["$label"]=$med; CALLS["$label"]=$total
}

declare -A MED CALLS
echo "nproc $(nproc); delay ${DELAY} ms; ${RUNS} counted runs per command; $ACCOUNTS accounts x ${#REGIONS[@]} regions" | tee "$work/report"
printf '%-22s %-9s %-6s %-6s %-6s %-7s %-7s %-9s %-7s %-8s %-8s %-15s %s\n' command "read/err" median_s min_s cpu_s rss_MB calls "per_acct_region" misses \
    proxy_cpu moto_cpu "load before" "load after" | tee -a "$work/report"
measure "one account" "${#REGIONS[@]}"
for c in $CONCURRENCY; do
    measure "org --concurrency $c" "$((ACCOUNTS * ${#REGIONS[@]}))" --org --concurrency "$c"
done
"$py" - "${MED[one account]}" "${CALLS[one account]}" "$ACCOUNTS" $(for c in $CONCURRENCY; do echo "$c" "${MED[org --concurrency $c]}" "${CALLS[org --concurrency $c]}"; done) <<'PY' | tee -a "$work/report"
import sys
t1, c1, n = float(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3])
rest = sys.argv[4:]
for i in range(0, len(rest), 3):
    c, t, calls = rest[i], float(rest[i + 1]), float(rest[i + 2])
    print(f"--concurrency {c}: time(org)/time(one account) = {t / t1:.2f} (target <= 3); "
          f"calls(org)/calls(one account) = {calls / c1:.1f} for {n}x the accounts")
PY
mkdir -p target && cp "$work/report" target/scale-org.txt
echo "(written to target/scale-org.txt)" >&2
