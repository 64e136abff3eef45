#!/usr/bin/env bash
# Builds the aura-ffi cdylib (debug unless PROFILE=release) and generates
# the Python, Kotlin and Swift bindings from it with the workspace's pinned
# generator, into $OUT (default: <target dir>/aura-bindings). Prints $OUT.
# The shared library is copied next to the Python module so that
# `PYTHONPATH=$OUT/python python3 -c 'import aura_ffi'` works.
# BUILT=1: the library and the generator are already built (scripts/test
# builds them with the rest of the workspace, so nothing is built twice).
set -euo pipefail
cd "$(dirname "$0")/../.."
profile="${PROFILE:-debug}"
target_dir="${CARGO_TARGET_DIR:-$PWD/target}"
out="${OUT:-$target_dir/aura-bindings}"
flag=()
[ "$profile" = release ] && flag=(--release)

if [ "${BUILT:-0}" != 1 ]; then
  cargo build -q -p aura-ffi --lib "${flag[@]}"
  cargo build -q -p aura-ffi --features cli --bin uniffi-bindgen
fi
case "$(uname -s)" in
  Darwin) lib="$target_dir/$profile/libaura_ffi.dylib" ;;
  *) lib="$target_dir/$profile/libaura_ffi.so" ;;
esac
bindgen="$target_dir/debug/uniffi-bindgen"

rm -rf "$out"
for lang in python kotlin swift; do
  mkdir -p "$out/$lang"
  "$bindgen" generate --library "$lib" --language "$lang" --out-dir "$out/$lang" --no-format >&2
done
cp "$lib" "$out/python/"
cp "$lib" "$out/kotlin/"
echo "$out"
