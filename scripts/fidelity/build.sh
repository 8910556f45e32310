#!/bin/sh
# Builds the fidelity tools (docs/HARDENING.md, "Fidelity on shapes outside ../shared") into OUT:
# agree (hangar's agreement with an oracle.mjs json) against the hangar build dir BUILD, and
# llama_dump (llama.cpp's tensors of one pass) against node-llama-cpp's prebuilt libllama, with
# headers from the llama.cpp source it ships. Not part of the build: they need $LLAMACPP_HOME.
#   scripts/fidelity/build.sh BUILD OUT
set -eu
here=$(cd "$(dirname "$0")" && pwd)
build=$(cd "$1" && pwd)
out=$2
home=${LLAMACPP_HOME:-$HOME/.cache/llamacpp-ref}
bins=$home/node_modules/@node-llama-cpp/linux-x64/bins/linux-x64
mkdir -p "$out"
libs=""
for l in engine model kernels sampling grammar tokenizer gguf; do libs="$libs $build/src/$l/libhangar_$l.a"; done
g++ -O2 -std=c++20 -I"$here/../../src" "$here/agree.cc" -o "$out/agree" $libs -lpcre2-8 "$build/src/base/libhangar_base.a" -lpthread
src=$out/llama-src
[ -d "$src" ] || git clone -q "$home/node_modules/node-llama-cpp/llama/gitRelease.bundle" "$src"
g++ -O1 -std=c++17 "$here/llama_dump.cc" -I"$src/include" -I"$src/ggml/include" -DLLAMA_BINS="\"$bins\"" \
  -o "$out/llama_dump" "$bins"/libllama.v*.so "$bins"/libggml.v*.so "$bins/libggml-base.so" -Wl,-rpath,"$bins"
echo "built $out/agree $out/llama_dump"
