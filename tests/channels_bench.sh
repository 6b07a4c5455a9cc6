#!/usr/bin/env bash
# Each channel's share of the host, release builds: for the terminal-only host, each channel
# alone, WhatsApp with Telegram, and every channel, an install is generated and built (timed, in
# a target folder that already holds the terminal-only host's crates: the time a channel adds),
# and its host binary is measured: size, and idle RSS 10 s after start with its channels running.
# Each required key of the install's .env.example is set to its example value (or a placeholder),
# so every channel starts, cannot reach its platform and retries, as a host whose network is down.
#   tests/channels_bench.sh [CLAW]      (CLAW: a claw binary; default: built here, release)
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"
claw="${1:-}"
if [ -z "$claw" ]; then
  cargo build --release --locked --quiet
  claw="${CARGO_TARGET_DIR:-$root/target}/release/claw"
fi
target="${CARGO_TARGET_DIR:-$root/target}/channels-bench"
work="$(mktemp -d)"
host_pid=""
trap 'if [ -n "$host_pid" ]; then kill "$host_pid" 2>/dev/null || true; fi; rm -rf "$work"' EXIT
# As root, each host runs in a network namespace of its own: no channel reaches a real platform
# with the placeholder credentials. Otherwise they try, and fail to log in.
isolate=()
if [ "$(id -u)" = 0 ] && unshare -n true 2>/dev/null; then isolate=(unshare -n); fi

channels=$("$claw" skill list --json | python3 -c '
import json, sys
print(" ".join(s["name"] for s in json.load(sys.stdin) if s.get("kind") == "channel"))')
[ -n "$channels" ] || { echo "no channel skills found" >&2; exit 1; }

# The keys .env.example marks required, as KEY=VALUE lines: the `# e.g.` value, or "bench".
required_keys() {
  awk '/^# e\.g\. /{ ex = substr($0, index($0, "=") + 1); next }
       /^# /{ req = ($0 ~ /\(required/); ex = ""; next }
       /^[A-Z0-9_]+=$/{ k = substr($0, 1, length($0) - 1)
                        if (req && k != "ANTHROPIC_API_KEY") print k "=" (ex == "" ? "bench" : ex); req = 0 }' "$1"
}

kib() { awk -v f="$2:" '$1 == f { print $2 }' "/proc/$1/status"; }

measure() {
  local name="$1" started built size rss anon
  shift
  local dir="$work/$name"
  mkdir -p "$dir"
  (cd "$dir" && "$claw" init x --bare --yes "$@" >/dev/null)
  started=$SECONDS
  (cd "$dir/x" && CARGO_TARGET_DIR="$target" cargo build --release --locked --quiet)
  built=$((SECONDS - started))
  cp "$target/release/claw-host" "$dir/claw-host"
  size=$(stat -c %s "$dir/claw-host")
  mkdir -p "$dir/run"
  printf 'data_dir = "data"\n' >"$dir/run/claw.toml"
  mapfile -t keys < <(required_keys "$dir/x/.env.example")
  # stdin held open (the terminal channel reads it) through a fifo no one writes to.
  mkfifo "$dir/stdin"
  exec 3<>"$dir/stdin"
  (cd "$dir/run" && exec "${isolate[@]}" env -i PATH="$PATH" HOME="$HOME" ANTHROPIC_API_KEY=bench "${keys[@]}" \
    "$dir/claw-host" run <"$dir/stdin" >/dev/null 2>"$dir/host.log") &
  local pid=$!
  host_pid=$pid
  sleep 10
  kill -0 "$pid" 2>/dev/null || { cat "$dir/host.log" >&2; echo "$name: the host did not stay up" >&2; exit 1; }
  rss=$(kib "$pid" VmRSS) anon=$(kib "$pid" RssAnon)
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  host_pid=""
  exec 3>&-
  awk -v n="$name" -v s="$size" -v r="$rss" -v a="$anon" -v b="$built" 'BEGIN {
    printf "  %-22s binary %5.1f MB   idle RSS %5.1f MB (%4.1f MB anonymous)   build %4d s\n", n, s / 1e6, r / 1024, a / 1024, b }'
}

echo "the host per channel (release; build: seconds added over the terminal-only host's crates)"
measure terminal-only
for channel in $channels; do
  measure "$channel" --skill "$channel"
done
measure whatsapp+telegram --skill whatsapp --skill telegram
# shellcheck disable=SC2046
measure every-channel $(for c in $channels; do printf -- '--skill %s ' "$c"; done)
echo "  (budgets: 10 MB with WhatsApp and Telegram; 16 MB with every channel)"
