#!/usr/bin/env bash
# make dist -- the PGXN release zip, <dir>/segment-<version>.zip (default dir:
# dist/ in the checkout), with <version> the control file's default_version.
# It is made from the last commit by git archive, so uncommitted changes are
# not in it; .gitattributes says what is left out.  Every path in the zip is
# under segment-<version>/, the single top directory PGXN requires.
#   scripts/dist.sh [dir]
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$root/dist}
name=segment

version=$(sed -n "s/^default_version = '\(.*\)'/\1/p" "$root/$name.control")
if [ -z "$version" ]; then
	echo "dist: no default_version in $name.control" >&2
	exit 1
fi
# An unpacked zip has no history to archive.
if [ "$(git -C "$root" rev-parse --show-toplevel 2>/dev/null)" != "$root" ]; then
	echo "dist: $root is not a git checkout; make dist archives its last commit" >&2
	exit 1
fi
if [ -n "$(git -C "$root" status --porcelain --untracked-files=no)" ]; then
	echo "dist: warning: uncommitted changes are not in the zip (it is made from HEAD)" >&2
fi

mkdir -p "$out"
zip="$(cd "$out" && pwd)/$name-$version.zip"
git -C "$root" archive --format=zip --prefix="$name-$version/" -o "$zip" HEAD
echo "$zip"
