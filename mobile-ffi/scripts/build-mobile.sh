#!/usr/bin/env bash
# Builds the library apps ship: aura-ffi's cdylib (and staticlib) with the
# `release-mobile` profile (fat LTO, one codegen unit, opt-level "s",
# panic = "abort", stripped), for the host or for TARGET (a Rust target triple, e.g.
# aarch64-linux-android; cross builds need that target's linker, see
# mobile-ffi/README.md). Prints the library path and its size.
#
#   mobile-ffi/scripts/build-mobile.sh                  # host (x86_64 Linux here)
#   TARGET=aarch64-apple-ios mobile-ffi/scripts/build-mobile.sh
#   OPT_LEVEL=z mobile-ffi/scripts/build-mobile.sh      # compare opt-level "z"
#   PANIC=unwind mobile-ffi/scripts/build-mobile.sh     # see README: panics
#
# No web page, CLI or server code is linked: aura-node without default
# features, aura-billing as a client only (HTTP/1.1).
set -euo pipefail
cd "$(dirname "$0")/../.."
target_dir="${CARGO_TARGET_DIR:-$PWD/target}"
args=(-p aura-ffi --lib --profile release-mobile)
out="$target_dir/release-mobile"
if [ -n "${TARGET:-}" ]; then
  args+=(--target "$TARGET")
  out="$target_dir/$TARGET/release-mobile"
fi
[ -n "${OPT_LEVEL:-}" ] && export CARGO_PROFILE_RELEASE_MOBILE_OPT_LEVEL="$OPT_LEVEL"
[ -n "${PANIC:-}" ] && export CARGO_PROFILE_RELEASE_MOBILE_PANIC="$PANIC"

cargo build "${args[@]}" >&2
for lib in "$out"/libaura_ffi.so "$out"/libaura_ffi.dylib; do
  [ -f "$lib" ] || continue
  echo "$lib $(stat -c %s "$lib" 2>/dev/null || stat -f %z "$lib") bytes"
done
