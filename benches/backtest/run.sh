#!/usr/bin/env bash
# Benchmark `cwfix backtest` against the decompression floor (zcat, one stream) and what users
# do today (the same 15 cis-v7.0 patterns as one jq filter), on the same synthetic corpus.
#
#   benches/backtest/run.sh                 # 2,000,000 events (generated once, ~0.5 GB gz)
#   EVENTS=200000 benches/backtest/run.sh   # quicker
#
# Environment: EVENTS (2000000), SEED (42), CORPUS (target/backtest-corpus), RUNS (3, median
# reported for cwfix and zcat), JQ_RUNS (1; jq is slow), CWFIX (target/release/cwfix),
# SKIP_BUILD=1 (use CWFIX as is), JOBS (passed to --jobs; default: all cores), NO_JQ=1.
# Results are printed and written to target/backtest-bench.txt.
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
trap 'rm -rf "$WORK"' EXIT

say() { printf '%s\n' "$*" >&2; }

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
    say "error: $CWFIX has no 'backtest' subcommand (is it wired into src/cli/mod.rs?)"
    exit 1
fi

# ---- timing helpers -------------------------------------------------------------------------
HAVE_GNU_TIME=
if /usr/bin/time -f '%e' true >/dev/null 2>&1; then HAVE_GNU_TIME=1; fi

# measure NAME COMMAND...: runs the command (a bash -c string), appends "seconds max_rss_kb".
measure() {
    local name=$1 cmd=$2
    if [[ -n $HAVE_GNU_TIME ]]; then
        /usr/bin/time -f '%e %M' -o "$WORK/t" bash -c "$cmd"
        cat "$WORK/t" >> "$WORK/$name.times"
    else
        local s e
        s=$(date +%s.%N)
        bash -c "$cmd"
        e=$(date +%s.%N)
        echo "$(echo "$e - $s" | bc) 0" >> "$WORK/$name.times"
    fi
}
median() { sort -n "$WORK/$1.times" | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
maxrss() { sort -n -k2 "$WORK/$1.times" | tail -1 | awk '{print $2}'; }

JOBS_ARG=()
[[ -n "${JOBS:-}" ]] && JOBS_ARG=(--jobs "$JOBS")

# ---- cwfix ----------------------------------------------------------------------------------
say "cwfix backtest x$RUNS ..."
# Warm the page cache so every contender reads from memory.
cat "$WORK/files0" | xargs -0 cat > /dev/null
for _ in $(seq "$RUNS"); do
    measure cwfix "'$CWFIX' -q backtest ${JOBS_ARG[*]} '$CORPUS' -o json > '$WORK/cwfix.json'"
done

# ---- zcat -----------------------------------------------------------------------------------
say "zcat x$RUNS ..."
for _ in $(seq "$RUNS"); do
    measure zcat "xargs -0 -a '$WORK/files0' zcat -- > /dev/null"
done

# ---- jq -------------------------------------------------------------------------------------
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
JQ_NOTE=
if [[ -n "${NO_JQ:-}" ]]; then
    JQ_NOTE="jq skipped (NO_JQ set)"
elif ! command -v jq >/dev/null; then
    say "jq not found; trying apt-get install jq ..."
    if ! { apt-get install -y -qq jq >/dev/null 2>&1 || { apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq jq >/dev/null 2>&1; }; }; then
        JQ_NOTE="jq skipped: not installed and apt-get install jq failed"
    fi
fi
if [[ -z $JQ_NOTE ]]; then
    say "jq x$JQ_RUNS (slow) ..."
    printf '%s' "$JQ_FILTER" > "$WORK/cis.jq"
    for _ in $(seq "$JQ_RUNS"); do
        measure jq "xargs -0 -a '$WORK/files0' zcat -- | jq -n -c -f '$WORK/cis.jq' > '$WORK/jq.json'"
    done
fi

# ---- report ---------------------------------------------------------------------------------
read -r EVENTS_SEEN JSON_BYTES < <(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d["events"], d["bytes"])' "$WORK/cwfix.json")
T_CW=$(median cwfix); T_Z=$(median zcat)
{
    echo "cwfix backtest benchmark — $(date -u +%Y-%m-%dT%H:%MZ)"
    echo "machine: $(nproc) cores, $(awk -F': ' '/model name/{print $2; exit}' /proc/cpuinfo), $(free -g | awk '/Mem:/{print $2}') GB RAM"
    echo "corpus: $CORPUS — $EVENTS_SEEN events, $NFILES files, $(awk -v b="$GZ_BYTES" 'BEGIN{printf "%.1f", b/1e6}') MB gzip, $(awk -v b="$JSON_BYTES" 'BEGIN{printf "%.1f", b/1e6}') MB JSON"
    echo "cwfix: $CWFIX backtest ${JOBS_ARG[*]} (default baseline), median of $RUNS"
    awk -v t="$T_CW" -v e="$EVENTS_SEEN" -v b="$JSON_BYTES" -v r="$(maxrss cwfix)" 'BEGIN{printf "  cwfix backtest  %7.2f s  %10.0f events/s  %7.1f MB/s  peak RSS %.1f MB\n", t, e/t, b/1e6/t, r/1024}'
    awk -v t="$T_Z" -v e="$EVENTS_SEEN" -v b="$JSON_BYTES" 'BEGIN{printf "  zcat (1 stream) %7.2f s  %10.0f events/s  %7.1f MB/s\n", t, e/t, b/1e6/t}'
    awk -v a="$T_CW" -v z="$T_Z" 'BEGIN{printf "  cwfix/zcat speed ratio: %.2fx (target >= 1.0x)\n", z/a}'
    if [[ -z $JQ_NOTE ]]; then
        T_JQ=$(median jq)
        awk -v t="$T_JQ" -v e="$EVENTS_SEEN" -v b="$JSON_BYTES" -v r="$(maxrss jq)" 'BEGIN{printf "  zcat | jq       %7.2f s  %10.0f events/s  %7.1f MB/s  peak RSS (jq) %.1f MB\n", t, e/t, b/1e6/t, r/1024}'
        awk -v a="$T_CW" -v j="$T_JQ" 'BEGIN{printf "  cwfix/jq speed ratio: %.1fx (target >= 10x)\n", j/a}'
        python3 - "$WORK/cwfix.json" "$WORK/jq.json" <<'PY'
import json, sys
cw = {c["id"]: c["matched"] for c in json.load(open(sys.argv[1]))["controls"]}
jq = json.load(open(sys.argv[2]))
diff = {k: (cw[k], jq.get(k, 0)) for k in cw if cw[k] != jq.get(k, 0)}
print("  match counts cwfix vs jq: " + ("identical for all %d controls" % len(cw) if not diff else "DIFFER %r" % diff))
print("  matches per control: " + ", ".join("%s=%d" % kv for kv in cw.items()))
PY
    else
        echo "  $JQ_NOTE"
    fi
} | tee "$RESULTS"
