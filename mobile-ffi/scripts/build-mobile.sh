#!/usr/bin/env bash
# Builds the library apps ship: aura-ffi's cdylib (and staticlib) with the
# `release-mobile` profile (fat LTO, one codegen unit, opt-level "s",
# panics unwind, stripped), for the host or for TARGET (a Rust target triple, e.g.
# aarch64-linux-android; cross builds need that target's linker, see
# mobile-ffi/README.md). Prints the library path and its size.
#
#   mobile-ffi/scripts/build-mobile.sh                  # host (x86_64 Linux here)
#   TARGET=aarch64-apple-ios mobile-ffi/scripts/build-mobile.sh
#   OPT_LEVEL=z mobile-ffi/scripts/build-mobile.sh      # compare opt-level "z"
#   PANIC=abort mobile-ffi/scripts/build-mobile.sh      # see README: panics
#   RELR=0 mobile-ffi/scripts/build-mobile.sh           # see README: relocations
#
# Relocations: on Linux (glibc 2.36 or later), and with RELR=1 on Android
# (API 28 or later), the relative relocations are packed (DT_RELR): 1.1 MB
# less. Debug and trace logging are compiled out (feature `max-log-warn`).
# libopus's neural network models are not compiled in (feature
# `runtime-models`): the script writes them beside the library as
# `opus-models.bin` (3.3 MB), an asset the app hands to `load_voice_models`
# before joining voice. MODELS=builtin compiles them in instead.
# No web page, CLI or server code is linked: aura-node without default
# features, aura-billing as a client only (HTTP/1.1).
set -euo pipefail
cd "$(dirname "$0")/../.."
target_dir="${CARGO_TARGET_DIR:-$PWD/target}"
features=max-log-warn
[ "${MODELS:-runtime}" = builtin ] || features="$features,runtime-models"
args=(-p aura-ffi --lib --profile release-mobile --features "$features")
out="$target_dir/release-mobile"
if [ -n "${TARGET:-}" ]; then
  args+=(--target "$TARGET")
  out="$target_dir/$TARGET/release-mobile"
fi
[ -n "${OPT_LEVEL:-}" ] && export CARGO_PROFILE_RELEASE_MOBILE_OPT_LEVEL="$OPT_LEVEL"
[ -n "${PANIC:-}" ] && export CARGO_PROFILE_RELEASE_MOBILE_PANIC="$PANIC"

# Linker options of the cdylib only (`cargo rustc`: the dependencies keep
# their fingerprints, so trying them does not rebuild the world).
target="${TARGET:-$(rustc -vV | sed -n 's/^host: //p')}"
link=()
case "$target" in
  *-linux-gnu*) [ "${RELR:-1}" = 1 ] && link=(-C link-arg=-Wl,-z,pack-relative-relocs) ;;
  *-linux-android*) [ "${RELR:-0}" = 1 ] && link=(-C link-arg=-Wl,--pack-dyn-relocs=android+relr) ;;
esac

# ${a[@]+...}: an empty array under `set -u` with macOS's bash 3.2.
cargo rustc "${args[@]}" -- ${link[@]+"${link[@]}"} >&2
for lib in "$out"/libaura_ffi.so "$out"/libaura_ffi.dylib; do
  [ -f "$lib" ] || continue
  echo "$lib $(stat -c %s "$lib" 2>/dev/null || stat -f %z "$lib") bytes"
done
# The models blob is the same for every target: written by a host build.
if [ "${MODELS:-runtime}" != builtin ]; then
  cargo run -q --release -p aura-opus --bin opus-models -- "$out/opus-models.bin"
fi
