#!/usr/bin/env bash
# Replays the README's two commands in a clean clone: `make run` must install, initialise,
# print the demo credentials and answer HTTP; `make test` is run by .ci/run itself.
# Prints how long `make run` took from the clean clone to the first answered request.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d)"
port="${README_PORT:-18765}"
server_pid=""
cleanup() {
  if [[ -n "$server_pid" ]]; then kill -- "-$server_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

git clone --quiet "$repo" "$work/keyloft"
cd "$work/keyloft"
grep -q '^make run' README.md || { echo "README lacks 'make run'" >&2; exit 1; }
grep -q '^make test' README.md || { echo "README lacks 'make test'" >&2; exit 1; }

started=$(date +%s%N)
setsid make run PORT="$port" >"$work/run.log" 2>&1 &
server_pid=$!

answered=""
for _ in $(seq 1 600); do
  if curl -fsS "http://127.0.0.1:$port/health/live" >/dev/null 2>&1; then answered=yes; break; fi
  if ! kill -0 "$server_pid" 2>/dev/null; then break; fi
  sleep 0.5
done
finished=$(date +%s%N)
if [[ -z "$answered" ]]; then
  echo "make run never answered; its output:" >&2
  cat "$work/run.log" >&2
  exit 1
fi

admin=$(grep -E '^  admin ' "$work/run.log" | awk '{print $2 ":" $3}')
[[ -n "$admin" ]] || { echo "make run printed no demo credentials" >&2; cat "$work/run.log" >&2; exit 1; }
body=$(curl -fsS -u "$admin" "http://127.0.0.1:$port/v3/integrations/scopes")
grep -q '"entity":"TargetGroups"' <<<"$body" || { echo "unexpected answer: $body" >&2; exit 1; }

elapsed_ms=$(( (finished - started) / 1000000 ))
printf 'README commands: make run answered after %d.%03d s from a clean clone\n' \
  $((elapsed_ms / 1000)) $((elapsed_ms % 1000))
