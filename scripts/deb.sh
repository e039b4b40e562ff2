#!/usr/bin/env bash
# make deb -- the Debian package postgresql-15-segment_<version>-1_amd64.deb,
# built by Debian's tooling (dpkg-buildpackage, debhelper, pg_buildext) from a
# copy of the checkout, so that the tree gets no build artefacts.  The package
# and its .buildinfo/.changes go to dist/; lintian checks them: errors fail,
# warnings are printed.  Installs its build dependencies when missing.
#   SEGMENT_DIST   another directory for the results (default dist/)
source "$(dirname "$0")/common.sh"

DEB_BUILD_PACKAGES="build-essential dpkg-dev debhelper postgresql-server-dev-all lintian git"
DIST=${SEGMENT_DIST:-$SEGMENT_ROOT/dist}

missing=
for p in $DEB_BUILD_PACKAGES; do
	[ "$(dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null)" = "ii " ] || missing="$missing $p"
done
if [ -n "$missing" ]; then
	say "installing$missing"
	as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
	as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi

version=$(sed -n "s/^default_version = '\(.*\)'/\1/p" "$SEGMENT_ROOT/segment.control")
[ -n "$version" ] || { echo "no default_version in segment.control" >&2; exit 1; }

work=$(mktemp -d "${TMPDIR:-/tmp}/segment-deb.XXXXXX")
trap 'rm -rf "$work"' EXIT
src=$work/segment-$version
mkdir "$src"

# The files git knows of and the new ones it does not ignore, as they are in
# the work tree (uncommitted changes included, deleted files and build
# products left out).  safe.directory: under sudo the checkout is another user's.
say "copying the source tree to $src"
(cd "$SEGMENT_ROOT" && git -c safe.directory="$SEGMENT_ROOT" ls-files -z --cached --others --exclude-standard |
	while IFS= read -r -d '' f; do if [ -e "$f" ]; then printf '%s\0' "$f"; fi; done |
	tar --null -T - -cf -) | tar -xf - -C "$src"

# The package's version is the extension's; a release adds its changelog entry.
# Until then the copy gets a generated one, so that the build never ships a
# stale version.
logged=$(dpkg-parsechangelog -l "$src/debian/changelog" -S Version)
if [ "${logged%-*}" != "$version" ]; then
	echo "warning: debian/changelog is at $logged but segment.control at $version; add a changelog entry" >&2
	{
		printf 'segment (%s-1) UNRELEASED; urgency=medium\n\n' "$version"
		printf '  * Built by make deb from the source tree (no changelog entry yet).\n\n'
		printf ' -- segment developers <segment@example.invalid>  %s\n\n' "$(date -R)"
		cat "$src/debian/changelog"
	} >"$work/changelog" && mv "$work/changelog" "$src/debian/changelog"
fi

say "building the package (dpkg-buildpackage -b)"
(cd "$src" && dpkg-buildpackage -b -us -uc -j"$(nproc)") >"$work/build.log" 2>&1 || {
	tail -n 60 "$work/build.log"
	echo "dpkg-buildpackage failed (log above)" >&2
	exit 1
}

mkdir -p "$DIST"
rm -f "$DIST"/postgresql-*-segment*_* "$DIST"/segment_*
cp "$work"/*.deb "$DIST/"
cp "$work"/*.ddeb "$work"/*.buildinfo "$work"/*.changes "$DIST/" 2>/dev/null || true

say "lintian"
changes=$(ls "$DIST"/segment_*.changes)
rc=0
report=$(lintian --fail-on error --display-level '>=warning' "$changes" 2>&1) || rc=$?
# (as root lintian adds a line that it would rather not be root)
grep -v '^running with root privileges' <<<"$report" || true
if [ "$rc" != 0 ]; then
	echo "lintian found errors (above)" >&2
	exit 1
fi

for deb in "$DIST"/postgresql-*-segment_*.deb; do
	say "$(basename "$deb"): $(du -k "$deb" | cut -f1) kB, $(dpkg-deb -c "$deb" | grep -vc '/$') files"
done
