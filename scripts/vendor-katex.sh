#!/usr/bin/env bash
# Copy KaTeX from npm's `katex` package into docs/assets/katex/, so the site renders
# formulas offline (no CDN at view time). The copy is committed; run this only to
# change the version. Needs npm (the registry) at vendoring time, nothing at build time.
set -euo pipefail
VERSION="${1:-0.16.22}"
cd "$(dirname "$0")/.."
dest=docs/assets/katex
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --silent "katex@$VERSION" >/dev/null && tar xzf "katex-$VERSION.tgz")
rm -rf "$dest"
mkdir -p "$dest/fonts" "$dest/contrib"
cp "$tmp/package/dist/katex.min.js" "$tmp/package/dist/katex.min.css" "$dest/"
cp "$tmp/package/dist/contrib/auto-render.min.js" "$dest/contrib/"
cp "$tmp/package/dist/fonts/"*.woff2 "$dest/fonts/"          # every current browser reads woff2
cp "$tmp/package/LICENSE" "$dest/LICENSE"
echo "$VERSION" > "$dest/VERSION"
echo "KaTeX $VERSION -> $dest ($(du -sh "$dest" | cut -f1))"
