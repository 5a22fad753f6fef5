#!/bin/sh
# The browser builds of the front-end packages (package.json), under the stable names the
# templates refer to: the one list, used by ./dev and by the image build (compose/Dockerfile).
# Source maps come along because collectstatic's manifest storage fails on a
# sourceMappingURL whose file is missing.
# usage: compose/copy-vendor.sh NODE_MODULES_DIR VENDOR_DIR   (VENDOR_DIR is replaced)
set -eu
nm="${1:?usage: copy-vendor.sh NODE_MODULES_DIR VENDOR_DIR}"
v="${2:?usage: copy-vendor.sh NODE_MODULES_DIR VENDOR_DIR}"
rm -rf "$v"
mkdir -p "$v/katex"
cp "$nm/markdown-it/dist/browser/markdown-it.umd.min.js" "$v/markdown-it.min.js"
cp "$nm/markdown-it/dist/browser/markdown-it.umd.min.js.map" "$v/"
cp "$nm/dompurify/dist/purify.min.js" "$nm/dompurify/dist/purify.min.js.map" "$v/"
cp "$nm/@highlightjs/cdn-assets/highlight.min.js" "$v/"
cp "$nm/@highlightjs/cdn-assets/styles/github.min.css" "$v/highlight-github.min.css"
cp "$nm/@highlightjs/cdn-assets/styles/github-dark.min.css" "$v/highlight-github-dark.min.css"
cp -r "$nm/katex/dist/katex.min.js" "$nm/katex/dist/katex.min.css" "$nm/katex/dist/fonts" \
  "$v/katex/"
