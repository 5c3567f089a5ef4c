#!/usr/bin/env bash
# cwfix demo: a local fake AWS account (moto + the cwfix test-bed fixes) with a realistic,
# partly broken CIS monitoring chain, and `cwfix plan` run against it.
#
#   bash scripts/demo.sh                 # plan against the demo account
#   bash scripts/demo.sh --some-flag     # extra arguments go to `cwfix plan`
#   DEMO_KEEP=1 bash scripts/demo.sh     # leave the server running and print the env to use it
#
# Env: CWFIX_BIN (use this binary instead of building), CWFIX_MOTO_VENV (venv location),
#      DEMO_PORT (fixed port; default: a free one), DEMO_SCENARIO (scenario JSON).
# Nothing here talks to real AWS: the endpoint is 127.0.0.1 and the credentials are dummies.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${CWFIX_MOTO_VENV:-$repo/.venv-moto}"
scenario="${DEMO_SCENARIO:-$repo/tests/moto/scenarios/demo.json}"
say() { echo "demo: $*" >&2; }

# 1. Python test bed.
bash "$repo/scripts/setup-moto.sh" >&2

# 2. The cwfix binary.
if [ -n "${CWFIX_BIN:-}" ]; then
    bin="$CWFIX_BIN"
    [ -x "$bin" ] || { say "CWFIX_BIN=$bin is not executable"; exit 1; }
else
    say "building cwfix (cargo build --bin cwfix; the first build compiles the AWS SDK: a few minutes)"
    (cd "$repo" && cargo build --bin cwfix)
    target_dir="${CARGO_TARGET_DIR:-$repo/target}"
    case "$target_dir" in /*) ;; *) target_dir="$repo/$target_dir" ;; esac
    bin="$target_dir/debug/cwfix"
fi

# 3. Start the server on a free loopback port.
state="$(mktemp -d "${TMPDIR:-/tmp}/cwfix-demo.XXXXXX")"
port_file="$state/port"
log="$state/moto.log"
"$venv/bin/python" "$repo/tests/moto/launcher.py" --host 127.0.0.1 --port "${DEMO_PORT:-0}" \
    --port-file "$port_file" --quiet >"$log" 2>&1 &
server_pid=$!

cleanup() {
    if [ -n "${server_pid:-}" ] && kill -0 "$server_pid" 2>/dev/null; then
        kill "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
    rm -rf "$state"
}
if [ "${DEMO_KEEP:-0}" != "1" ]; then
    trap cleanup EXIT
    trap 'exit 130' INT TERM
fi

for _ in $(seq 1 200); do
    [ -s "$port_file" ] && break
    if ! kill -0 "$server_pid" 2>/dev/null; then
        say "the moto launcher died; its log ($log):"; cat "$log" >&2; exit 1
    fi
    sleep 0.1
done
[ -s "$port_file" ] || { say "moto launcher not ready after 20 s; log: $log"; cat "$log" >&2; exit 1; }
port="$(tr -d '[:space:]' < "$port_file")"
url="http://127.0.0.1:$port"
say "fake AWS endpoint $url (pid $server_pid, log $log)"

# 4. Environment for everything below: only the local endpoint, dummy credentials, no profiles.
unset AWS_PROFILE AWS_DEFAULT_PROFILE AWS_SESSION_TOKEN AWS_SECURITY_TOKEN AWS_ROLE_ARN \
      AWS_WEB_IDENTITY_TOKEN_FILE AWS_CONTAINER_CREDENTIALS_FULL_URI \
      AWS_CONTAINER_CREDENTIALS_RELATIVE_URI AWS_IGNORE_CONFIGURED_ENDPOINT_URLS
for v in $(compgen -e | grep '^AWS_ENDPOINT_URL_' || true); do unset "$v"; done
export AWS_ENDPOINT_URL="$url"
export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing
export AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
export AWS_EC2_METADATA_DISABLED=true
export AWS_CONFIG_FILE="$state/no-aws-config" AWS_SHARED_CREDENTIALS_FILE="$state/no-aws-credentials"
export NO_COLOR="${NO_COLOR:-1}"

# 5. Seed the demo account.
say "seeding $(basename "$scenario")"
"$venv/bin/python" "$repo/tests/moto/seed.py" "$url" seed < "$scenario" >"$state/seed.json"

if [ "${DEMO_KEEP:-0}" = "1" ]; then
    cat >&2 <<EOF
demo: server left running (pid $server_pid). To use it from another shell:

export AWS_ENDPOINT_URL=$url
export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing
export AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true
export AWS_CONFIG_FILE=$state/no-aws-config AWS_SHARED_CREDENTIALS_FILE=$state/no-aws-credentials
unset AWS_PROFILE AWS_DEFAULT_PROFILE AWS_SESSION_TOKEN

  $bin plan            # then: $bin apply
  $venv/bin/python $repo/tests/moto/seed.py $url dump      # full state as JSON
  curl -X POST $url/_cwfix/confirm-subscriptions          # "click" pending email links
  kill $server_pid                                        # stop the server

EOF
fi

# 6. The point of the demo.
# With no arguments, alarms notify the team's existing topic (a real user names theirs the same
# way, or writes a baseline that extends a shipped one).
if [ "$#" -eq 0 ]; then
    set -- --topic security-alerts
fi
say "running: cwfix plan $*"
set +e
"$bin" plan "$@"
rc=$?
set -e
case "$rc" in
    0) say "exit 0: every control of the baseline holds" ;;
    2) say "exit 2: changes are planned (the point of the demo: the account is partly broken)" ;;
    3) say "exit 3: nothing cwfix can change, but controls are blocked or unknown (see their reasons)" ;;
    *) say "exit $rc: an error (see above)" ;;
esac
if [ "${DEMO_KEEP:-0}" != "1" ]; then
    cat >&2 <<NEXT

Next steps:
  DEMO_KEEP=1 bash scripts/demo.sh     # keep the fake account running; then, from another shell:
    cwfix apply                        #   make the planned changes (asks for "yes")
    cwfix plan                         #   "No changes." once the email subscription is confirmed
    cwfix rollback RUN_ID              #   undo the run (cwfix runs lists run ids)
  bash scripts/test.sh                 # the whole test suite
NEXT
fi
# 2 and 3 are answers, not failures: the demo itself worked.
case "$rc" in 0 | 2 | 3) exit 0 ;; *) exit "$rc" ;; esac
