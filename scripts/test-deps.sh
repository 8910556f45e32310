#!/usr/bin/env bash
# Installs node test tools (npm ci) when an end-to-end test suite is present.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -f tests/e2e/package-lock.json ] && [ ! -d tests/e2e/node_modules ]; then (cd tests/e2e && npm ci --no-audit --no-fund); fi
