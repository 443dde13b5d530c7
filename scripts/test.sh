#!/usr/bin/env bash
# `npm test`: everything CI checks, in the order that fails fastest.
# The end-to-end part needs a real Incus: scripts/incus-setup.sh installs and
# starts it when missing (root, Debian 12), and builds the local test image;
# scripts/browser-setup.sh installs Debian's Chromium for the status page test.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

step "build"
npm run --silent build
step "typecheck"
npm run --silent typecheck
step "lint"
npm run --silent lint
step "unit and integration tests"
npx vitest run --project unit --project integration

step "Incus for the end-to-end tests"
bash scripts/incus-setup.sh
step "Chromium for the status page's browser test"
bash scripts/browser-setup.sh
step "end-to-end tests (real Incus)"
npx vitest run --project e2e
