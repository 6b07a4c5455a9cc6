#!/usr/bin/env bash
# The headline swap, for real: `claw init` (WhatsApp by default) builds and passes the channel's
# tests; `claw skill apply telegram --replace whatsapp` is one commit after which the install
# builds, has no WhatsApp crate and no OpenSSL in its dependency tree, and passes all its tests:
# the base's end-to-end tests, Telegram's against the stand-in Bot API, and the stand-in itself
# driven by python-telegram-bot. Prints the build times it measured.
#   tests/channel_swap.sh [CLAW_BINARY]      (needs Docker, the agent image, python-telegram-bot)
set -euo pipefail
shopt -s inherit_errexit
claw="${1:-${CARGO_TARGET_DIR:-$PWD/target}/debug/claw}"
claw="$(cd "$(dirname "$claw")" && pwd)/$(basename "$claw")"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
seconds() { local start=$SECONDS; "$@" >&2; echo $((SECONDS - start)); }

cd "$work"
env -u CLAW_SKILLS "$claw" init agent >/dev/null
cd agent
test -f src/channels/whatsapp.rs
wa_build=$(seconds cargo build --locked --workspace --all-targets --quiet)
cargo test --locked --quiet --lib channels::whatsapp
touch src/channels/whatsapp.rs
wa_incr=$(seconds cargo build --locked --quiet)

env -u CLAW_SKILLS "$claw" skill apply telegram --replace whatsapp --yes
[ "$(git rev-list --count HEAD)" = 2 ] || { echo "channel_swap: the swap was not exactly one commit" >&2; exit 1; }
[ -z "$(git status --porcelain)" ] || { echo "channel_swap: the swap left the tree dirty" >&2; exit 1; }
[ ! -e src/channels/whatsapp.rs ] || { echo "channel_swap: whatsapp.rs is still there" >&2; exit 1; }
tg_build=$(seconds cargo build --locked --workspace --all-targets --quiet)
if cargo tree --workspace --prefix none | grep -E '^(whatsapp|wacore|openssl-sys) '; then
  echo "channel_swap: the Telegram install still depends on the crates above" >&2
  exit 1
fi
touch src/channels/telegram.rs
tg_incr=$(seconds cargo build --locked --quiet)
cargo test --locked --workspace --no-fail-fast
cargo build --locked --quiet -p claw-testkit --bin fake-telegram
FAKE_TELEGRAM_BIN="$CARGO_TARGET_DIR/debug/fake-telegram" python3 -m pytest -q tests/sdk/test_fake_telegram.py

echo "channel_swap: ok"
echo "build (debug, shared target dir, after the base was built): whatsapp install ${wa_build}s, incremental ${wa_incr}s; telegram install ${tg_build}s, incremental ${tg_incr}s"
