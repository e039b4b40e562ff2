#!/usr/bin/env bash
# The PGXN check of `make test`: `make dist` into a temporary directory, then
# test/meta_check.py on META.json and on that zip.  In an unpacked PGXN zip
# there is no commit to archive, so only META.json is checked.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
if [ "$(git -C "$root" rev-parse --show-toplevel 2>/dev/null)" != "$root" ]; then
	echo "not a git checkout: checking META.json only, no zip"
	exec python3 "$root/test/meta_check.py"
fi
tmp=$(mktemp -d "${TMPDIR:-/tmp}/segment-dist.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
make -s -C "$root" dist DIST_DIR="$tmp" >/dev/null
python3 "$root/test/meta_check.py" "$tmp"/segment-*.zip
