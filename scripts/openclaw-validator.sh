#!/usr/bin/env bash
# Installs a pinned OpenClaw and the Node 24 it needs into a cache folder, and
# prints that folder. The integration test test/integration/openclaw-validate.test.ts
# runs `openclaw config validate` from it; reruns find it ready and return at once.
#
#   scripts/openclaw-validator.sh [openclaw-version]
#     ANKLUME_OPENCLAW_CACHE  cache root (default /var/cache/anklume-openclaw)
#     ANKLUME_OPENCLAW_NODE   Node version (default 24.21.0)
#
# Only the npm registry is needed: Node itself comes from the `node` package
# (its preinstall fetches the node-<os>-<arch> binary package, also from npm).
# OpenClaw needs Node >=24.16 (node:sqlite); on Node 20 npm would resolve a bare
# `openclaw` to a 0.0.1 placeholder, so the version is always exact.
set -euo pipefail

version=${1:-2026.9.6}
node_version=${ANKLUME_OPENCLAW_NODE:-24.21.0}
cache=${ANKLUME_OPENCLAW_CACHE:-/var/cache/anklume-openclaw}
dir=$cache/$version
stamp="openclaw@$version node@$node_version"

if ! [[ $version =~ ^[0-9A-Za-z.+-]+$ ]]; then
  echo "openclaw-validator: not a version: $version" >&2
  exit 2
fi

mkdir -p "$cache"
# Two test workers (or a test and a human) may install at once: one at a time.
exec 9>"$cache/.lock"
flock 9

if [[ -f $dir/.complete && $(cat "$dir/.complete") == "$stamp" ]]; then
  echo "$dir"
  exit 0
fi

rm -rf "$dir"
mkdir -p "$dir"
# A half-done install must not look ready: the stamp is written last.
trap 'rm -rf "$dir"' ERR

npm_quiet=(--no-audit --no-fund --loglevel=error --save-exact --prefix "$dir")
npm install "${npm_quiet[@]}" "node@$node_version" >&2
# OpenClaw's own install scripts (bundled plugins) must run under Node 24,
# so its bin folder comes first on PATH for the second install.
PATH="$dir/node_modules/.bin:$PATH" npm install "${npm_quiet[@]}" "openclaw@$version" >&2

got=$("$dir/node_modules/.bin/node" "$dir/node_modules/openclaw/openclaw.mjs" --version)
if [[ $got != *"$version"* ]]; then
  echo "openclaw-validator: installed OpenClaw reports '$got', expected $version" >&2
  exit 1
fi

echo "$stamp" >"$dir/.complete"
echo "$dir"
