#!/usr/bin/env bash
# Runs the core of the suite against the lowest tfjs release tfcam's peer range allows.
# The release is read from package.json (peerDependencies['@tensorflow/tfjs-core'], e.g. "^4.10.0").
set -euo pipefail
cd "$(dirname "$0")/.."
range=$(node -p "require('./package.json').peerDependencies['@tensorflow/tfjs-core']")
version=${range#^}
dir=${TFCAM_LOWEST_DIR:-node_modules/.cache/tfcam-lowest-tfjs/$version}
if [ ! -d "$dir/node_modules/@tensorflow/tfjs-core" ]; then
  mkdir -p "$dir"
  echo '{"private":true}' > "$dir/package.json"
  npm install --prefix "$dir" --no-audit --no-fund --no-save --loglevel=error \
    "@tensorflow/tfjs-core@$version" "@tensorflow/tfjs-layers@$version" "@tensorflow/tfjs-converter@$version" \
    "@tensorflow/tfjs-backend-cpu@$version" "@tensorflow/tfjs-backend-wasm@$version"
fi
echo "tfjs $(node -p "require('./$dir/node_modules/@tensorflow/tfjs-core/package.json').version") from $dir"
TFCAM_TFJS_DIR="$(pwd)/$dir/node_modules/@tensorflow" exec npx vitest run -c vitest.lowest.config.ts "$@"
