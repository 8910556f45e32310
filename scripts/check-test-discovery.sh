#!/usr/bin/env bash
# Every GoogleTest binary must list its tests without ../shared: a missing reference file is a
# failing test with a message, never a binary that crashes while its tests are being listed
# (which breaks the build's test discovery). Usage: check-test-discovery.sh BINARY...
set -uo pipefail
missing="$(mktemp -d)/no-shared-here"
status=0
for bin in "$@"; do
  out="$(HANGAR_SHARED_DIR="$missing" "$bin" --gtest_list_tests 2>&1)"
  rc=$?
  if [ "$rc" -ne 0 ] || [ -z "$out" ]; then
    echo "FAIL: $bin --gtest_list_tests exits $rc without ../shared:"
    echo "$out" | tail -5
    status=1
  fi
done
# The golden chat templates are read while listing: without them the test must fail cleanly.
for bin in "$@"; do
  case "$bin" in
    */chat_test)
      out="$(HANGAR_SHARED_DIR="$missing" "$bin" --gtest_filter='AllTemplates/*' 2>&1)"
      rc=$?
      if [ "$rc" -ne 1 ] || ! grep -q "cannot read $missing" <<<"$out"; then
        echo "FAIL: $bin without ../shared exits $rc; expected 1 and \"cannot read $missing\""
        echo "$out" | tail -5
        status=1
      fi
      ;;
  esac
done
rmdir "$(dirname "$missing")"
[ "$status" -eq 0 ] && echo "ok: $# test binaries list their tests without ../shared"
exit "$status"
