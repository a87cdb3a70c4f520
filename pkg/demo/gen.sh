#!/usr/bin/env bash
# gen.sh fetches the demo page's third-party JavaScript from npm (exact
# versions in package-lock.json) and copies the browser builds into
# thirdparty/, which the superpeer binary embeds. Run by `go generate
# ./pkg/demo` and by scripts/demo; the copies are never committed.
set -euo pipefail
cd "$(dirname "$0")"
if [[ ! -d node_modules || package-lock.json -nt node_modules/.package-lock.json ]]; then
	npm ci --ignore-scripts --no-audit --no-fund
fi
cp node_modules/hls.js/dist/hls.mjs thirdparty/hls.mjs
cp node_modules/p2p-media-loader-core/dist/p2p-media-loader-core.es.min.js thirdparty/p2p-media-loader-core.js
cp node_modules/p2p-media-loader-hlsjs/dist/p2p-media-loader-hlsjs.es.min.js thirdparty/p2p-media-loader-hlsjs.js
# The DASH tab: Shaka Player (a classic script defining window.shaka) and
# p2p-media-loader-shaka 2.2.2 with its own core 2.2.2, in a directory of
# their own: the page's import map scopes "p2p-media-loader-core" to 2.2.2
# for modules under it, while hls.js keeps 2.3.1.
# (node, not mkdir: the image's build stage may be a bare Node.js image.)
node -e 'require("fs").mkdirSync("thirdparty/p2pml-2.2", {recursive: true})'
cp node_modules/shaka-player/dist/shaka-player.compiled.js thirdparty/shaka-player.compiled.js
cp node_modules/core22/dist/p2p-media-loader-core.es.min.js thirdparty/p2pml-2.2/p2p-media-loader-core.js
cp node_modules/shaka22/dist/p2p-media-loader-shaka.es.min.js thirdparty/p2pml-2.2/p2p-media-loader-shaka.js
for pkg in hls.js p2p-media-loader-core p2p-media-loader-hlsjs shaka-player core22 shaka22; do
	printf '%s %s\n' "$pkg" "$(node -p "require('./node_modules/$pkg/package.json').version")"
done > thirdparty/VERSIONS
