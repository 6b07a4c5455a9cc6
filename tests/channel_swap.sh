#!/usr/bin/env bash
# The headline swap at the level of trees and dependencies (the code itself is built and tested
# once, in CI's install holding every skill): `claw init` (WhatsApp by default), then
# `claw skill apply telegram --replace whatsapp` is exactly one commit, leaves the tree clean,
# equals an install made with Telegram from the start, and its dependency tree holds no
# WhatsApp crate and no OpenSSL.
#   tests/channel_swap.sh [CLAW_BINARY]
set -euo pipefail
shopt -s inherit_errexit
claw="${1:-${CARGO_TARGET_DIR:-$PWD/target}/debug/claw}"
claw="$(cd "$(dirname "$claw")" && pwd)/$(basename "$claw")"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
fail() { echo "channel_swap: $*" >&2; exit 1; }

mkdir "$work/swapped" "$work/fresh"
(cd "$work/swapped" && env -u CLAW_SKILLS "$claw" init agent >/dev/null)
(cd "$work/fresh" && env -u CLAW_SKILLS "$claw" init agent --bare --skill telegram >/dev/null)
cd "$work/swapped/agent"
test -f src/channels/whatsapp.rs || fail "WhatsApp is not the default channel"
env -u CLAW_SKILLS "$claw" skill apply telegram --replace whatsapp --yes >/dev/null
[ "$(git rev-list --count HEAD)" = 2 ] || fail "the swap was not exactly one commit"
[ -z "$(git status --porcelain)" ] || fail "the swap left the tree dirty"
[ ! -e src/channels/whatsapp.rs ] || fail "whatsapp.rs is still there"
[ "$(git rev-parse 'HEAD^{tree}')" = "$(git -C "$work/fresh/agent" rev-parse 'HEAD^{tree}')" ] ||
  fail "the swapped install differs from one made with Telegram from the start"
if cargo tree --locked --workspace --prefix none --edges normal,build,dev | grep -E '^(whatsapp-rust|wacore|openssl-sys) '; then
  fail "the Telegram install still depends on the crates above"
fi
echo "channel_swap: ok"
