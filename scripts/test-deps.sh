#!/usr/bin/env bash
# Installs node test tools (npm ci) when an end-to-end test suite is present: on a fresh checkout,
# and again whenever package-lock.json changed since the last install (a stamp holds its digest).
set -euo pipefail
cd "$(dirname "$0")/../tests/e2e"
[ -f package-lock.json ] || exit 0
want=$(sha256sum package-lock.json | cut -d' ' -f1)
stamp=node_modules/.hangar-lock-sha256
if [ ! -d node_modules ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  npm ci --no-audit --no-fund
  echo "$want" >"$stamp"
fi
