#!/usr/bin/env bash
# Chromium for the status page's browser test (test/e2e/status-page.test.ts),
# from Debian's own packages: puppeteer-core drives it and downloads no browser.
#
# Idempotent: does nothing when a Chromium is already there. Must run as root
# to install. ANKLUME_CHROMIUM names another binary (then nothing is installed).
set -euo pipefail

chromium="${ANKLUME_CHROMIUM:-/usr/bin/chromium}"
if [ -x "$chromium" ]; then
  echo "chromium: $chromium is there"
  exit 0
fi
if [ -n "${ANKLUME_CHROMIUM:-}" ]; then
  echo "browser-setup: ANKLUME_CHROMIUM=$chromium is not an executable" >&2
  exit 1
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "browser-setup: Chromium is missing; run as root to install it (apt-get install chromium)" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null
echo "chromium: installed $("$chromium" --version 2>/dev/null || echo "$chromium")"
