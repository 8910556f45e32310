#!/usr/bin/env bash
# Fails when a symbol defined in one per-ISA kernels object (x86/avx2.cc, avx512.cc, ...) is also
# defined in another object: the linker keeps one copy of such a symbol for the whole program,
# which may hold AVX-512 code and then run on an AVX2-only CPU. Each per-ISA object may export
# only its table getter; everything else must have internal linkage.
# Usage: check-isa-symbols.sh OBJECT... [-- ARCHIVE]: the objects are per-ISA objects (the test
# passes copies built at -O0, where every inline function is emitted out of line); in ARCHIVE
# (libhangar_kernels.a) the members named avx*.o are the per-ISA ones.
set -uo pipefail
NM="${NM:-nm}"
objects=()
archive=""
while [ $# -gt 0 ]; do
  if [ "$1" = "--" ]; then archive="${2:-}"; break; fi
  IFS=';' read -ra parts <<<"$1"  # ctest passes a CMake list ($<TARGET_OBJECTS:...>) as one argument
  objects+=("${parts[@]}")
  shift
done
for f in "${objects[@]}" ${archive:+"$archive"}; do
  [ -f "$f" ] || { echo "FAIL: no such object: $f"; exit 1; }
done
status=0
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

# check SET ISA_RE: SET holds "symbol<TAB>object" for every global definition of a group of
# objects; a symbol of a per-ISA object (name matching ISA_RE) that another object defines too
# is shared.
check() {
  # DW.ref.* are data pointers to the C++ personality routine that GCC emits (as COMDAT) in every
  # object with unwind tables (the sanitizer build's -fasynchronous-unwind-tables): no code.
  awk -F'\t' -v re="$2" '$1 ~ /^DW\.ref\./ { next } { n[$1]++; objs[$1] = objs[$1] " " $2; if ($2 ~ re) isa[$1] = 1 }
       END { for (s in isa) if (n[s] > 1) print s "\t" objs[s] }' "$1" >"$tmp/shared"
  while IFS=$'\t' read -r sym objs; do
    echo "FAIL: $(c++filt "$sym") is defined in more than one object:$objs"
    status=1
  done <"$tmp/shared"
}

n_sym=0
if [ ${#objects[@]} -gt 0 ]; then
  for o in "${objects[@]}"; do
    "$NM" -g --defined-only --format=posix "$o" | awk -v o="$(basename "$o")" '{print $1 "\t" o}' ||
      { echo "FAIL: nm $o"; exit 1; }
  done >"$tmp/objects"
  check "$tmp/objects" "."
  n_sym=$((n_sym + $(grep -c . "$tmp/objects")))
fi
if [ -n "$archive" ]; then
  # posix format with -A: "lib.a[member.o]: symbol type value size"
  "$NM" -A -g --defined-only --format=posix "$archive" |
    sed -E 's/^[^[]*\[([^]]*)\]: ([^ ]*) .*/\2\t\1/' >"$tmp/archive"
  check "$tmp/archive" "^avx"
  n_sym=$((n_sym + $(grep -cP '\tavx' "$tmp/archive")))
fi
[ "$status" -eq 0 ] && echo "ok: no per-ISA object shares any of its global symbols ($n_sym checked)"
exit "$status"
