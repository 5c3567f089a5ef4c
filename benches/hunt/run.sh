#!/usr/bin/env bash
# Benchmark the local `cwfix hunt` against jq doing the same filter in one run, on the synthetic
# CloudTrail corpus of benches/backtest (gen_corpus.py, S3 layout, gzip).
#
#   benches/hunt/run.sh                    # 500,000 events (generated once into target/hunt-corpus)
#   EVENTS=100000 benches/hunt/run.sh      # quicker
#
# Two of the hunting baseline's seed queries, unchanged but for the account:
#   role-assumptions-outside-federation   field filters (account like, eventName like / not like)
#   failed-logins                         @message like 'fail' | 'denied' | 'error' (the whole record)
# jq computes the same eleven output fields (coalesce = `//`, concat, tojson for @message) for
# every matching record. cwfix keeps at most 10,000 rows without `limit`, as Insights does, but
# evaluates every record; the check compares its `records_matched` with jq's row count.
#
# Environment: EVENTS (500000), SEED (42), CORPUS (target/hunt-corpus), RUNS (3, median reported,
# for both), CWFIX (target/release/cwfix), SKIP_BUILD=1, JOBS (--jobs; default all cores).
# Results are printed and written to target/hunt-bench.txt.
set -euo pipefail

cd "$(dirname "$0")/../.."
EVENTS=${EVENTS:-500000}
SEED=${SEED:-42}
CORPUS=${CORPUS:-target/hunt-corpus}
RUNS=${RUNS:-3}
CWFIX=${CWFIX:-${CARGO_TARGET_DIR:-target}/release/cwfix}
RESULTS=target/hunt-bench.txt
ACCOUNT=111122223333
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
say() { printf '%s\n' "$*" >&2; }

if [[ "$(cat "$CORPUS/.params" 2>/dev/null || true)" != "$EVENTS $SEED" ]]; then
    say "generating $EVENTS events (seed $SEED) into $CORPUS ..."
    rm -rf "$CORPUS.tmp" "$CORPUS"
    python3 benches/backtest/gen_corpus.py "$CORPUS.tmp" "$EVENTS" "$SEED"
    mv "$CORPUS.tmp" "$CORPUS"
    echo "$EVENTS $SEED" > "$CORPUS/.params"
fi
find "$CORPUS" -name '*.json.gz' -print0 | sort -z > "$WORK/files0"
NFILES=$(tr -cd '\0' < "$WORK/files0" | wc -c)
GZ_BYTES=$(xargs -0 -a "$WORK/files0" cat | wc -c)

if [[ -z "${SKIP_BUILD:-}" ]]; then
    say "building cwfix (release) ..."
    cargo build --release --quiet
fi
command -v jq >/dev/null || { apt-get install -y -qq jq >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq jq; }; } >/dev/null 2>&1 \
    || { say "error: jq is not installed and apt-get install jq failed"; exit 1; }

measure() { # NAME CMD: appends "seconds max_rss_kb"
    /usr/bin/time -f '%e %M' -o "$WORK/t" bash -c "$2"
    cat "$WORK/t" >> "$WORK/$1.times"
}
median() { sort -n "$WORK/$1.times" | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
maxrss() { sort -n -k2 "$WORK/$1.times" | tail -1 | awk '{print $2}'; }
JOBS_ARG=()
[[ -n "${JOBS:-}" ]] && JOBS_ARG=(--jobs "$JOBS")

# The seed queries' fields in jq: Insights reads strings as themselves, numbers and booleans
# as text, objects/arrays/null as null.
JQ_COMMON='
def s: if type == "string" then . elif type == "number" or type == "boolean" then tojson else null end;
def obj: if type == "object" then . else {} end;
def like($p): (. // "") | contains($p);
def row: . as $r | ($r.userIdentity | obj) as $u
  | (($u.arn | s) // ($r.resources | if type == "array" then .[0] else null end | obj | .ARN | s)) as $arn
  | {awsRegion: ($r.awsRegion | s),
     username: (($u.userName | s) // ($r.responseElements | obj | .assumedRoleUser | obj | .assumedRoleId | s)
                // ($u.sessionContext | obj | .sessionIssuer | obj | .userName | s)),
     account: ($r.recipientAccountId | s), eventSource: ($r.eventSource | s), eventName: ($r.eventName | s),
     IP: ($r.sourceIPAddress | s),
     "@timestamp": ($r.eventTime | s | if . then (.[0:10] + " " + .[11:19] + ".000") else null end),
     eventTime: ($r.eventTime | s), arn: $arn,
     exclude: (if $arn == null and ($r.eventName | s) == null then null else (($arn // "") + (($r.eventName | s) // "")) end),
     "@message": ($r | tojson)};
'
JQ_ROLES="$JQ_COMMON"'
inputs | .Records[] | select((.recipientAccountId | s | like("'$ACCOUNT'"))
  and (.eventName | s | like("AssumeRole")) and ((.eventName | s | like("AssumeRoleWithSAML")) | not)) | row'
JQ_FAILED="$JQ_COMMON"'
inputs | .Records[] | select((.recipientAccountId | s | like("'$ACCOUNT'"))
  and (tojson | (contains("fail") or contains("denied") or contains("error")))
  and ((.eventSource | s | like("login")) or (.eventSource | s | like("signin")))) | row'
printf '%s' "$JQ_ROLES" > "$WORK/roles.jq"
printf '%s' "$JQ_FAILED" > "$WORK/failed.jq"

xargs -0 -a "$WORK/files0" cat > /dev/null # warm the page cache
for q in roles failed; do
    saved=$([[ $q == roles ]] && echo role-assumptions-outside-federation || echo failed-logins)
    say "cwfix hunt --saved $saved x$RUNS ..."
    for _ in $(seq "$RUNS"); do
        measure "cwfix-$q" "'$CWFIX' -q hunt --saved $saved --account $ACCOUNT ${JOBS_ARG[*]} '$CORPUS' --format json > '$WORK/$q.cwfix.json' 2>/dev/null"
    done
    say "zcat | jq ($q) x$RUNS ..."
    for _ in $(seq "$RUNS"); do
        measure "jq-$q" "xargs -0 -a '$WORK/files0' zcat -- | jq -n -c -f '$WORK/$q.jq' > '$WORK/$q.jq.out'"
    done
done

{
    echo "cwfix hunt benchmark — $(date -u +%Y-%m-%dT%H:%MZ)"
    echo "machine: $(nproc) cores, $(awk -F': ' '/model name/{print $2; exit}' /proc/cpuinfo), load $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "corpus: $CORPUS — $EVENTS events, $NFILES files, $(awk -v b="$GZ_BYTES" 'BEGIN{printf "%.1f", b/1e6}') MB gzip; medians of $RUNS"
    for q in roles failed; do
        T_C=$(median "cwfix-$q"); T_J=$(median "jq-$q")
        read -r MATCHED SCANNED KEPT < <(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); s=d["stats"]; print(s["records_matched"], s["records_scanned"], len(d["rows"]))' "$WORK/$q.cwfix.json")
        JQ_ROWS=$(wc -l < "$WORK/$q.jq.out")
        echo "query $q:"
        awk -v t="$T_C" -v e="$SCANNED" -v r="$(maxrss "cwfix-$q")" 'BEGIN{printf "  cwfix hunt  %7.2f s  %9.0f events/s  peak RSS %.1f MB\n", t, e/t, r/1024}'
        awk -v t="$T_J" -v e="$SCANNED" 'BEGIN{printf "  zcat | jq   %7.2f s  %9.0f events/s\n", t, e/t}'
        awk -v c="$T_C" -v j="$T_J" 'BEGIN{printf "  cwfix/jq speed ratio: %.1fx (target >= 10x)\n", j/c}'
        if [[ "$MATCHED" == "$JQ_ROWS" ]]; then
            echo "  matches: cwfix $MATCHED = jq $JQ_ROWS (cwfix printed $KEPT rows: Insights' 10,000-row cap)"
        else
            echo "  matches DIFFER: cwfix $MATCHED, jq $JQ_ROWS"
        fi
    done
} | tee "$RESULTS"
