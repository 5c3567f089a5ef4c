#!/usr/bin/env bash
# Benchmark `cwfix backtest` against the decompression floor (zcat, one stream) and what users
# do today (the 15 cis-v7.0 patterns as one jq filter), on the same synthetic corpus, in one run:
# first on the machine as it is ("quiet"), then with a competing CPU load the script starts
# itself (one busy process per core, "loaded"). Match counts are checked against jq (an
# independent implementation of the same 15 filters) or, with NO_JQ=1, a Python reference.
#
#   benches/backtest/run.sh                 # 2,000,000 events (generated once, ~0.3 GB gz)
#   EVENTS=200000 benches/backtest/run.sh   # quicker
#
# Environment: EVENTS (2000000), SEED (42), CORPUS (target/backtest-corpus), RUNS (3, median
# reported for cwfix and zcat), JQ_RUNS (1; jq is slow), CWFIX (target/release/cwfix),
# SKIP_BUILD=1 (use CWFIX as is), JOBS (passed to --jobs; default: all cores), NO_JQ=1 (no jq;
# counts checked with the Python reference), NO_LOAD=1 (quiet phase only), BEFORE=PATH (also
# time another cwfix binary, e.g. a build of main), INFLATE=1 (also run the inflate comparison in
# benches/backtest/inflate). Results are printed and written to target/backtest-bench.txt.
set -euo pipefail

cd "$(dirname "$0")/../.."
EVENTS=${EVENTS:-2000000}
SEED=${SEED:-42}
CORPUS=${CORPUS:-target/backtest-corpus}
RUNS=${RUNS:-3}
JQ_RUNS=${JQ_RUNS:-1}
CWFIX=${CWFIX:-target/release/cwfix}
RESULTS=target/backtest-bench.txt
WORK=$(mktemp -d)
LOAD_PIDS=()
stop_load() {
    for p in "${LOAD_PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    LOAD_PIDS=()
}
trap 'stop_load; rm -rf "$WORK"' EXIT

say() { printf '%s\n' "$*" >&2; }
loadavg() { cut -d' ' -f1-3 /proc/loadavg; }

# ---- corpus ---------------------------------------------------------------------------------
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

# ---- build ----------------------------------------------------------------------------------
if [[ -z "${SKIP_BUILD:-}" ]]; then
    say "building cwfix (release) ..."
    cargo build --release --quiet
fi
if ! "$CWFIX" backtest --help >/dev/null 2>&1; then
    say "error: $CWFIX has no 'backtest' subcommand"
    exit 1
fi
if [[ -n "${INFLATE:-}" ]]; then
    cargo build --release --quiet --manifest-path benches/backtest/inflate/Cargo.toml --target-dir target/inflate-bench
    cargo build --release --quiet --manifest-path benches/backtest/inflate/Cargo.toml --features zlib-rs \
        --target-dir target/inflate-bench-zlibrs
fi

# ---- timing helpers -------------------------------------------------------------------------
if ! /usr/bin/time -f '%e' true >/dev/null 2>&1; then
    say "error: GNU time (/usr/bin/time) is needed for peak RSS: apt-get install time"
    exit 1
fi
# measure NAME COMMAND: runs the command (a bash -c string), appends "wall maxrss_kb cpu".
measure() {
    /usr/bin/time -f '%e %M %U %S' -o "$WORK/t" bash -c "$2"
    awk '{print $1, $2, $3 + $4}' "$WORK/t" >> "$WORK/$1.times"
}
median() { sort -n "$WORK/$1.times" | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
median_cpu() { sort -n -k3 "$WORK/$1.times" | awk '{a[NR]=$3} END {print a[int((NR+1)/2)]}'; }
maxrss() { sort -n -k2 "$WORK/$1.times" | tail -1 | awk '{print $2}'; }

JOBS_ARG=()
[[ -n "${JOBS:-}" ]] && JOBS_ARG=(--jobs "$JOBS")

# The 15 cis-v7.0 patterns with CloudWatch semantics: `=`/`!=` are false on a missing or
# non-scalar property, `x*` is a prefix match, `NOT EXISTS` is true only on a missing property.
JQ_FILTER='
def is($v): type == "string" and . == $v;
def isnt($v): type == "string" and . != $v;
def starts($p): type == "string" and startswith($p);
def ends($p): type == "string" and endswith($p);
def any_of($xs): . as $x | type == "string" and ($xs | index([$x]) != null);
def c($k; cond): if cond then .[$k] += 1 else . end;
reduce (inputs | .Records[]) as $r ({};
  c("5.1"; ($r.errorCode | ends("UnauthorizedOperation")) or (($r.errorCode | starts("AccessDenied")) and ($r.sourceIPAddress | isnt("delivery.logs.amazonaws.com")) and ($r.eventName | isnt("HeadBucket"))))
  | c("5.2"; ($r.eventName | is("ConsoleLogin")) and (($r.additionalEventData | objects | .MFAUsed) // null | isnt("Yes")))
  | c("5.3"; ($r.userIdentity | objects | .type | is("Root")) and (($r.userIdentity | objects | has("invokedBy")) | not) and ($r.eventType | isnt("AwsServiceEvent")))
  | c("5.4"; $r.eventName | any_of(["DeleteGroupPolicy","DeleteRolePolicy","DeleteUserPolicy","PutGroupPolicy","PutRolePolicy","PutUserPolicy","CreatePolicy","DeletePolicy","CreatePolicyVersion","DeletePolicyVersion","AttachRolePolicy","DetachRolePolicy","AttachUserPolicy","DetachUserPolicy","AttachGroupPolicy","DetachGroupPolicy"]))
  | c("5.5"; $r.eventName | any_of(["CreateTrail","UpdateTrail","DeleteTrail","StartLogging","StopLogging"]))
  | c("5.6"; ($r.eventName | is("ConsoleLogin")) and ($r.errorMessage | is("Failed authentication")))
  | c("5.7"; ($r.eventSource | is("kms.amazonaws.com")) and ($r.eventName | any_of(["DisableKey","ScheduleKeyDeletion"])))
  | c("5.8"; ($r.eventSource | is("s3.amazonaws.com")) and ($r.eventName | any_of(["PutBucketAcl","PutBucketPolicy","PutBucketCors","PutBucketLifecycle","PutBucketReplication","DeleteBucketPolicy","DeleteBucketCors","DeleteBucketLifecycle","DeleteBucketReplication"])))
  | c("5.9"; ($r.eventSource | is("config.amazonaws.com")) and ($r.eventName | any_of(["StopConfigurationRecorder","DeleteDeliveryChannel","PutDeliveryChannel","PutConfigurationRecorder"])))
  | c("5.10"; $r.eventName | any_of(["AuthorizeSecurityGroupIngress","AuthorizeSecurityGroupEgress","RevokeSecurityGroupIngress","RevokeSecurityGroupEgress","CreateSecurityGroup","DeleteSecurityGroup","ModifySecurityGroupRules"]))
  | c("5.11"; $r.eventName | any_of(["CreateNetworkAcl","CreateNetworkAclEntry","DeleteNetworkAcl","DeleteNetworkAclEntry","ReplaceNetworkAclEntry","ReplaceNetworkAclAssociation"]))
  | c("5.12"; $r.eventName | any_of(["CreateCustomerGateway","DeleteCustomerGateway","AttachInternetGateway","CreateInternetGateway","DeleteInternetGateway","DetachInternetGateway"]))
  | c("5.13"; $r.eventName | any_of(["CreateRoute","CreateRouteTable","ReplaceRoute","ReplaceRouteTableAssociation","DeleteRouteTable","DeleteRoute","DisassociateRouteTable"]))
  | c("5.14"; $r.eventName | any_of(["CreateVpc","DeleteVpc","ModifyVpcAttribute","AcceptVpcPeeringConnection","CreateVpcPeeringConnection","DeleteVpcPeeringConnection","RejectVpcPeeringConnection","AttachClassicLinkVpc","DetachClassicLinkVpc","DisableVpcClassicLink","EnableVpcClassicLink"]))
  | c("5.15"; ($r.eventSource | is("organizations.amazonaws.com")) and ($r.eventName | any_of(["AcceptHandshake","AttachPolicy","CreateAccount","CreateOrganizationalUnit","CreatePolicy","DeclineHandshake","DeleteOrganization","DeleteOrganizationalUnit","DeletePolicy","DetachPolicy","DisablePolicyType","EnablePolicyType","InviteAccountToOrganization","LeaveOrganization","MoveAccount","RemoveAccountFromOrganization","UpdatePolicy","UpdateOrganizationalUnit"])))
)'
printf '%s' "$JQ_FILTER" > "$WORK/cis.jq"
JQ_NOTE=
if [[ -n "${NO_JQ:-}" ]]; then
    JQ_NOTE="jq skipped (NO_JQ set)"
elif ! command -v jq >/dev/null; then
    say "jq not found; trying apt-get install jq ..."
    if ! { apt-get install -y -qq jq >/dev/null 2>&1 || { apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq jq >/dev/null 2>&1; }; }; then
        JQ_NOTE="jq skipped: not installed and apt-get install jq failed"
    fi
fi

# ---- one phase: cwfix, zcat, jq on the same files -------------------------------------------
# phase NAME: times every contender; names its result files NAME-*.
phase() {
    local p=$1
    say "[$p] load average before: $(loadavg)"
    echo "$(loadavg)" > "$WORK/$p.load0"
    xargs -0 -a "$WORK/files0" cat > /dev/null # page cache warm for every contender
    for _ in $(seq "$RUNS"); do
        say "[$p] cwfix backtest ..."
        measure "$p-cwfix" "'$CWFIX' -q backtest ${JOBS_ARG[*]} '$CORPUS' -o json > '$WORK/$p-cwfix.json'"
        if [[ -n "${BEFORE:-}" ]]; then
            say "[$p] before: $BEFORE backtest ..."
            measure "$p-before" "'$BEFORE' -q backtest ${JOBS_ARG[*]} '$CORPUS' -o json > /dev/null"
        fi
        say "[$p] zcat ..."
        measure "$p-zcat" "xargs -0 -a '$WORK/files0' zcat -- > /dev/null"
    done
    if [[ -z $JQ_NOTE ]]; then
        for _ in $(seq "$JQ_RUNS"); do
            say "[$p] zcat | jq (slow) ..."
            measure "$p-jq" "xargs -0 -a '$WORK/files0' zcat -- | jq -n -c -f '$WORK/cis.jq' > '$WORK/$p-jq.json'"
        done
    fi
    echo "$(loadavg)" > "$WORK/$p.load1"
}

phase quiet
if [[ -z "${NO_LOAD:-}" ]]; then
    for _ in $(seq "$(nproc)"); do
        sh -c 'while :; do :; done' &
        LOAD_PIDS+=($!)
    done
    sleep 2
    phase loaded
    stop_load
fi

# ---- reference counts -----------------------------------------------------------------------
if [[ -n $JQ_NOTE ]]; then
    say "Python reference counts ..."
    python3 benches/backtest/reference.py "$WORK/files0" > "$WORK/ref.json"
    REF_NAME="Python reference (benches/backtest/reference.py)"
else
    cp "$WORK/quiet-jq.json" "$WORK/ref.json"
    REF_NAME="jq"
fi

# ---- report ---------------------------------------------------------------------------------
read -r EVENTS_SEEN JSON_BYTES < <(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d["events"], d["bytes"])' "$WORK/quiet-cwfix.json")
row() { # row LABEL NAME [RSS-LABEL]
    awk -v l="$1" -v t="$(median "$2")" -v c="$(median_cpu "$2")" -v e="$EVENTS_SEEN" -v b="$JSON_BYTES" -v r="$(maxrss "$2")" \
        'BEGIN{printf "  %-17s %7.2f s  %10.0f events/s  %7.1f MB/s  CPU %6.2f s  peak RSS %6.1f MB\n", l, t, e/t, b/1e6/t, c, r/1024}'
}
ratio() { awk -v a="$(median "$1")" -v z="$(median "$2")" 'BEGIN{printf "%.2f", z/a}'; }
report_phase() {
    local p=$1 title=$2 zt=$3
    echo "$title (load average before $(cat "$WORK/$p.load0"), after $(cat "$WORK/$p.load1")):"
    row "cwfix backtest" "$p-cwfix"
    [[ -n "${BEFORE:-}" ]] && row "before ($(basename "$BEFORE"))" "$p-before"
    row "zcat (1 stream)" "$p-zcat"
    [[ -z $JQ_NOTE ]] && row "zcat | jq" "$p-jq"
    printf '  cwfix/zcat %sx (target >= %s)' "$(ratio "$p-cwfix" "$p-zcat")" "$zt"
    [[ -z $JQ_NOTE ]] && printf ', cwfix/jq %sx (target >= 30x)' "$(ratio "$p-cwfix" "$p-jq")"
    [[ -n "${BEFORE:-}" ]] && printf ', cwfix/before %sx' "$(ratio "$p-cwfix" "$p-before")"
    printf '\n'
}
{
    echo "cwfix backtest benchmark — $(date -u +%Y-%m-%dT%H:%MZ)"
    echo "machine: $(nproc) cores, $(awk -F': ' '/model name/{print $2; exit}' /proc/cpuinfo), $(free -g | awk '/Mem:/{print $2}') GB RAM"
    echo "corpus: $CORPUS — $EVENTS_SEEN events, $NFILES files, $(awk -v b="$GZ_BYTES" 'BEGIN{printf "%.1f", b/1e6}') MB gzip, $(awk -v b="$JSON_BYTES" 'BEGIN{printf "%.1f", b/1e6}') MB JSON"
    echo "cwfix: $CWFIX backtest ${JOBS_ARG[*]} (default baseline); cwfix and zcat: median of $RUNS, jq: $JQ_RUNS run(s)"
    report_phase quiet "quiet" "2.5x"
    if [[ -z "${NO_LOAD:-}" ]]; then
        report_phase loaded "loaded: $(nproc) busy processes (one per core) started by this script" "1.0x"
    fi
    [[ -n $JQ_NOTE ]] && echo "  $JQ_NOTE"
    python3 - "$REF_NAME" "$WORK/ref.json" "$WORK"/*-cwfix.json <<'PY'
import json, sys
name, ref = sys.argv[1], json.load(open(sys.argv[2]))
ok = True
for path in sys.argv[3:]:
    cw = {c["id"]: c["matched"] for c in json.load(open(path))["controls"]}
    diff = {k: (cw[k], ref.get(k, 0)) for k in cw if cw[k] != ref.get(k, 0)}
    ok &= not diff
    label = path.rsplit("/", 1)[1].split("-")[0]
    print("  match counts, %s run vs %s: %s" % (label, name, "identical for all %d controls" % len(cw) if not diff else "DIFFER %r" % diff))
print("  matches per control: " + ", ".join("%s=%d" % kv for kv in cw.items()))
sys.exit(0 if ok else 1)
PY
    if [[ -n "${INFLATE:-}" ]]; then
        echo "inflate, one thread, all files of the corpus (benches/backtest/inflate):"
        target/inflate-bench/release/inflate-bench "$CORPUS" "$RUNS" | sed 's/^/  /'
        target/inflate-bench-zlibrs/release/inflate-bench "$CORPUS" "$RUNS" | sed -n '2p' | sed 's/^/  /'
    fi
} | tee "$RESULTS"
