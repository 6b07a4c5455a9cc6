#!/usr/bin/env bash
# Builds the agent image.
#   container/build.sh                       FROM scratch: the static agent + busybox (no registry needed)
#   container/build.sh --base debian:bookworm-slim   from a distribution image (needs a registry)
# The tag is claw-agent:latest unless CLAW_IMAGE says otherwise.
set -euo pipefail
cd "$(dirname "$0")/.."
image="${CLAW_IMAGE:-claw-agent:latest}"
base=""
if [ "${1:-}" = "--base" ]; then base="${2:?--base needs an image}"; fi

arch="$(uname -m)"
target="${arch}-unknown-linux-gnu"
target_dir="${CARGO_TARGET_DIR:-$PWD/target}"
# A static binary: it runs on any base image, including an empty one.
# --locked: the crates built are those Cargo.lock names, never newer ones resolved on the way.
# No fallback to an unlocked build: a lock that does not match the manifests is reported as such.
if ! RUSTFLAGS="-C target-feature=+crt-static" cargo build --release --locked -p claw-agent --target "$target"; then
  echo "build.sh: the agent did not build from Cargo.lock as committed; if cargo says the lock needs updating, run: cargo update --workspace (then commit Cargo.lock)" >&2
  exit 1
fi
agent="$target_dir/$target/release/claw-agent"

context="$(mktemp -d)"
trap 'rm -rf "$context"' EXIT
if [ -n "$base" ]; then
  cp "$agent" container/packages.txt "$context/"
  docker build --build-arg "BASE_IMAGE=$base" -t "$image" -f container/Dockerfile "$context"
  exit 0
fi

busybox="$(command -v busybox || true)"
if [ -z "$busybox" ] || ! file "$busybox" 2>/dev/null | grep -q 'statically linked'; then
  busybox=/bin/busybox
fi
if [ ! -x "$busybox" ]; then
  echo "build.sh: needs busybox-static (apt-get install busybox-static)" >&2
  exit 1
fi
root="$context/rootfs"
mkdir -p "$root/bin" "$root/usr/local/bin" "$root/etc" "$root/tmp" "$root/workspace/group" "$root/workspace/global" "$root/run/claw"
cp "$busybox" "$root/bin/busybox"
for applet in $("$busybox" --list); do
  [ "$applet" = busybox ] || ln -sf busybox "$root/bin/$applet"
done
cp "$agent" "$root/usr/local/bin/claw-agent"
printf 'root:x:0:0:root:/root:/bin/sh\nagent:x:1000:1000:agent:/workspace/group:/bin/sh\n' > "$root/etc/passwd"
printf 'root:x:0:\nagent:x:1000:\n' > "$root/etc/group"
chmod 1777 "$root/tmp"
cp container/Dockerfile.local "$context/Dockerfile"
docker build -q -t "$image" "$context" >/dev/null
echo "built $image ($(docker image inspect -f '{{.Size}}' "$image") bytes)"
