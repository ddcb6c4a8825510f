#!/usr/bin/env bash
# berth's main job on its default driver, from a fresh Debian machine: a local Docker host
# (a system container with its own engine, installed over SSH and secured with mutual TLS),
# then the real docker CLI pointed at it with `berth env`.
#   sudo bash scripts/quickstart.sh [NAME]
set -euo pipefail
cd "$(dirname "$0")/.."
name=${1:-default}

# A local engine to host the machines: use the one that runs, else install and start one.
if ! timeout 5 docker version >/dev/null 2>&1; then
  bash test/lab/lab.sh install
  bash test/lab/lab.sh start
else
  command -v debootstrap >/dev/null || { apt-get update -qq && apt-get install -y -qq debootstrap >/dev/null; }
fi
[ -d node_modules ] || npm ci --no-audit --no-fund
[ -f oclif.manifest.json ] || npm run build >/dev/null

berth() { node bin/run.js "$@"; }
berth status "$name" >/dev/null 2>&1 || berth create -d container "$name"
eval "$(berth env "$name")"
docker info --format 'docker CLI -> {{.Name}}: engine {{.ServerVersion}}, {{.Containers}} containers, labels {{.Labels}}'
berth ls
echo "Point your shell at it: eval \"\$(node bin/run.js env $name)\"" >&2
