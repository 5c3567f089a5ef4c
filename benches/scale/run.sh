#!/usr/bin/env bash
# Scale benchmark: `cwfix plan` over N regions against the moto test bed with 50 ms latency.
#
#   bash benches/scale/run.sh                  # N = 1 4 16, 3 runs each
#   SCALE_NS="1 4" SCALE_RUNS=5 bash benches/scale/run.sh
#
# Per region: one multi-region trail homed there, delivering to a log group there with
# SCALE_FILTERS (200) unrelated metric filters + 5 CIS filters, and SCALE_ALARMS (500) alarms
# (5 of them CIS alarms on a topic with a confirmed subscriber). Seeding goes around the
# launcher's fault injection (X-Cwfix-Internal); then every cwfix call gets `delay_ms`
# (SCALE_DELAY_MS, 50) so that latency, not moto's CPU, dominates. Reports the median wall
# time, the launcher's own CPU time during the run (moto_cpu_s: when it approaches the wall time,
# the single-process moto server is the bottleneck, not cwfix), API calls per service
# (launcher's /_cwfix/calls, reset before each run) and cwfix's peak RSS.
# Results: stdout and target/scale-bench.txt. Recorded figures: docs/scale.md.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$repo"
NS="${SCALE_NS:-1 4 16}"
RUNS="${SCALE_RUNS:-3}"
DELAY="${SCALE_DELAY_MS:-50}"
# SCALE_CACHE=1 (default): cwfix talks to benches/scale/cache_proxy.py, which adds the fixed
# latency and answers repeated reads from a cache filled by one warm-up run, so the figures
# measure cwfix rather than the single moto process. SCALE_CACHE=0: straight to moto, with the
# latency injected by the launcher.
CACHE="${SCALE_CACHE:-1}"
FILTERS="${SCALE_FILTERS:-200}"
ALARMS="${SCALE_ALARMS:-500}"
ALL_REGIONS=(us-east-1 eu-west-1 ap-southeast-2 us-west-2 eu-central-1 ap-northeast-1 us-east-2 eu-west-2
             ap-south-1 ca-central-1 sa-east-1 eu-north-1 us-west-1 ap-northeast-2 eu-west-3 ap-southeast-1)

bash scripts/setup-moto.sh >/dev/null
venv="${CWFIX_MOTO_VENV:-$repo/.venv-moto}"
py="$venv/bin/python"
echo "building cwfix (release)..." >&2
cargo build --release --quiet --bin cwfix
cwfix="${CARGO_TARGET_DIR:-$repo/target}/release/cwfix"
[ -x /usr/bin/time ] || { echo "scale: /usr/bin/time is missing (apt-get install time)" >&2; exit 1; }

work="$(mktemp -d "${TMPDIR:-/tmp}/cwfix-scale.XXXXXX")"
moto_pid=""
cleanup() { [ -n "$moto_pid" ] && kill "$moto_pid" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

"$cwfix" baselines show cis-v7.0 -o json > "$work/baseline.json"

start_moto() {
    rm -f "$work/port"
    "$py" tests/moto/launcher.py --host 127.0.0.1 --port 0 --port-file "$work/port" --quiet \
        > "$work/moto.log" 2>&1 &
    moto_pid=$!
    for _ in $(seq 200); do [ -s "$work/port" ] && break; sleep 0.1; done
    [ -s "$work/port" ] || { echo "scale: launcher did not start" >&2; cat "$work/moto.log" >&2; exit 1; }
    url="http://127.0.0.1:$(cat "$work/port")"
}
proxy_pid=""
stop_moto() {
    kill "$moto_pid" 2>/dev/null || true; wait "$moto_pid" 2>/dev/null || true; moto_pid=""
    if [ -n "$proxy_pid" ]; then kill "$proxy_pid" 2>/dev/null || true; wait "$proxy_pid" 2>/dev/null || true; proxy_pid=""; fi
}
start_proxy() {
    rm -f "$work/pport"
    "$py" benches/scale/cache_proxy.py "$url" --delay-ms "$DELAY" --port-file "$work/pport" > "$work/proxy.log" 2>&1 &
    proxy_pid=$!
    for _ in $(seq 100); do [ -s "$work/pport" ] && break; sleep 0.1; done
    [ -s "$work/pport" ] || { echo "scale: proxy did not start" >&2; cat "$work/proxy.log" >&2; exit 1; }
    endpoint="http://127.0.0.1:$(cat "$work/pport")"
}
# CPU seconds (user+sys) the launcher process has used so far.
moto_cpu() { awk -v hz="$(getconf CLK_TCK)" '{print ($14 + $15) / hz}' "/proc/$moto_pid/stat"; }
ctl() { curl -sf -X "$1" -H 'Content-Type: application/json' ${3:+--data "$3"} "$url$2"; }

# Sanity: the delay hits cwfix's calls only, and delayed calls overlap.
start_moto
echo "delay check: $("$py" benches/scale/seed_scale.py "$url" check-delay --delay-ms "$DELAY")" | tee "$work/report"
stop_moto

printf '\n%-3s %-5s %-9s %-7s %-11s %-11s %-7s %-7s %s\n' N runs "median_s" "min_s" "cwfix_cpu_s" "moto_cpu_s" "rss_MB" calls "calls per service | per operation" | tee -a "$work/report"
declare -A MED CALLS
for n in $NS; do
    regions=("${ALL_REGIONS[@]:0:$n}")
    csv="$(IFS=,; echo "${regions[*]}")"
    start_moto
    seeded="$("$py" benches/scale/seed_scale.py "$url" seed --regions "$csv" --baseline "$work/baseline.json" \
        --filters "$FILTERS" --alarms "$ALARMS")"
    echo "N=$n seeded in $(echo "$seeded" | "$py" -c 'import json,sys; print(json.load(sys.stdin)["seconds"])') s" >&2
    rargs=(); for r in "${regions[@]}"; do rargs+=(--region "$r"); done
    if [ "$CACHE" = "1" ]; then
        start_proxy
        warm=0
    else
        ctl POST /_cwfix/faults "{\"delay_ms\": $DELAY}" >/dev/null
        endpoint="$url"
        warm=1
    fi
    times=(); rss=0; cpus=(); own=()
    for i in $(seq 0 "$RUNS"); do
        ctl POST /_cwfix/calls/reset >/dev/null
        [ -n "$proxy_pid" ] && curl -sf -X POST "$endpoint/_proxy/calls/reset" >/dev/null
        cpu0="$(moto_cpu)"
        set +e
        env -u AWS_PROFILE -u AWS_SESSION_TOKEN AWS_ENDPOINT_URL="$endpoint" AWS_ACCESS_KEY_ID=testing \
            AWS_SECRET_ACCESS_KEY=testing AWS_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true NO_COLOR=1 \
            AWS_CONFIG_FILE="$work/none" AWS_SHARED_CREDENTIALS_FILE="$work/none" \
            /usr/bin/time -f '%e %M %U %S' -o "$work/time" \
            "$cwfix" plan "${rargs[@]}" -o json --subscribe email:secops@example.com \
            > "$work/plan.json" 2> "$work/plan.err"
        rc=$?
        set -e
        if [ "$rc" -ne 0 ] && [ "$rc" -ne 2 ]; then
            echo "scale: cwfix plan exited $rc (N=$n):" >&2; cat "$work/plan.err" >&2; exit 1
        fi
        # Run 0 warms the proxy's cache (or, straight to moto, moto's lazy backends): not counted.
        [ "$i" -eq 0 ] && [ "$warm" -eq 0 ] && continue
        cpus+=("$(awk -v a="$cpu0" -v b="$(moto_cpu)" 'BEGIN {printf "%.2f", b - a}')")
        read -r wall kb usr sys < <(tail -1 "$work/time")
        times+=("$wall"); [ "$kb" -gt "$rss" ] && rss=$kb
        own+=("$(awk -v u="$usr" -v s="$sys" 'BEGIN {printf "%.2f", u + s}')")
        if [ -n "$proxy_pid" ]; then
            curl -sf "$endpoint/_proxy/calls" > "$work/pcalls-$n.json"
        fi
        ctl GET /_cwfix/calls > "$work/calls-$n.json"
    done
    proxied="$proxy_pid"
    stop_moto
    read -r med min < <(printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)], a[1]}')
    if [ -n "$proxied" ]; then
        percall="$("$py" - "$work/pcalls-$n.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
print(d["total"], " ".join(f"{s}={n}" for s, n in sorted(d["calls"].items())), f"| cache hits={d['hits']} misses={d['misses']}")
PY
)"
    else
        percall="$("$py" - "$work/calls-$n.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
print(d["total"], " ".join(f"{s}={sum(o.values())}" for s, o in d["calls"].items()),
      "|", " ".join(f"{o}={n}" for s, ops in d["calls"].items() for o, n in ops.items()))
PY
)"
    fi
    cpu="$(printf '%s\n' "${cpus[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')"
    owncpu="$(printf '%s\n' "${own[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')"
    MED[$n]=$med; CALLS[$n]=${percall%% *}
    printf '%-3s %-5s %-9s %-7s %-11s %-11s %-7s %s\n' "$n" "$RUNS" "$med" "$min" "$owncpu" "$cpu" "$((rss / 1024))" "$percall" | tee -a "$work/report"
done

first="${NS%% *}"; last="${NS##* }"
if [ "$first" != "$last" ]; then
    "$py" - "${MED[$first]}" "${MED[$last]}" "${CALLS[$first]}" "${CALLS[$last]}" "$first" "$last" <<'PY' | tee -a "$work/report"
import sys
t1, tn, c1, cn, n1, nn = map(float, sys.argv[1:])
print(f"\ntime({nn:g})/time({n1:g}) = {tn / t1:.2f}  (target <= 2)")
print(f"calls({nn:g})/calls({n1:g}) = {cn / c1:.2f}  (linear in regions would be {nn / n1:g})")
PY
fi
mkdir -p target && cp "$work/report" target/scale-bench.txt
echo "(written to target/scale-bench.txt)" >&2
