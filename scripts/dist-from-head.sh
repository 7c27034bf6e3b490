#!/usr/bin/env bash
# Rebuild dist/ from the committed sources only (a clean clone of HEAD), so work in
# progress in this tree never leaks into the bundles. node_modules is copied, not
# linked: a symlink resolves outside the project and changes ncc's module ids.
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
git clone -q . "$tmp/repo"
cp -a node_modules "$tmp/repo/node_modules"
(cd "$tmp/repo" && node scripts/build.mjs)
for d in "$tmp"/repo/dist/*; do
  rm -rf "dist/$(basename "$d")"
  cp -r "$d" "dist/$(basename "$d")"
done
git status --short dist
