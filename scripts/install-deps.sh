#!/usr/bin/env bash
# Installs the Debian 12 packages hangar builds and tests with, only those that are missing.
set -euo pipefail
pkgs=(g++ cmake make pkg-config libgtest-dev libgmock-dev libbenchmark-dev libsqlite3-dev libssl-dev
      libhwy-dev libpcre2-dev libcpp-httplib-dev nlohmann-json3-dev libcli11-dev libfmt-dev libtomlplusplus-dev ninja-build nodejs npm
      chromium  # the dashboard's browser test (tests/e2e/dashboard.test.mjs)
      haproxy)  # the scale-out e2e test runs deploy/haproxy.cfg (tests/e2e/haproxy.test.mjs)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# node/npm may come from elsewhere than Debian (a preinstalled toolchain): accept them on PATH.
if command -v node >/dev/null && command -v npm >/dev/null; then
  missing=("${missing[@]/nodejs}"); missing=("${missing[@]/npm}")
fi
# A Chromium already on PATH (or named by CHROMIUM) serves the browser test as well.
if [ -n "${CHROMIUM:-}" ] || command -v chromium >/dev/null; then missing=("${missing[@]/chromium}"); fi
read -r -a missing <<<"${missing[*]}"
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  sudo_cmd=""; [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  $sudo_cmd apt-get update
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y "${missing[@]}"
fi
