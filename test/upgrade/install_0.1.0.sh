#!/usr/bin/env bash
# test/upgrade/install_0.1.0.sh DEST -- a PostgreSQL installation in DEST
# (a copy of the server's bin, lib and share) with segment 0.1.0 built from
# its release commit, for test/t/009_upgrade.pl: the database is made by
# 0.1.0's library and scripts, then updated with this tree's.  Run by
# test/run_tests.sh; needs the git history (a clone, not an archive).
source "$(dirname "$0")/../../scripts/common.sh"

RELEASE_0_1_0=5dd6713 # the commit 0.1.0 was released from
dest=$1
ensure_postgres
git -C "$SEGMENT_ROOT" cat-file -e "$RELEASE_0_1_0^{commit}" 2>/dev/null || {
	echo "install_0.1.0.sh: commit $RELEASE_0_1_0 (0.1.0) is not in this clone's history" >&2
	exit 1
}
src=$(mktemp -d)
trap 'rm -rf "$src"' EXIT
mkdir -p "$dest"
libroot=$(cd "$PG_BINDIR/.." && pwd)
sharedir=$("$PG_CONFIG" --sharedir)
(cd / && cp -a --parents "${libroot#/}" "${sharedir#/}" "$dest/")
# none of this tree's segment: only 0.1.0's
rm -f "$dest$("$PG_CONFIG" --pkglibdir)"/segment.so "$dest$sharedir"/extension/segment[.-]*
git -C "$SEGMENT_ROOT" archive "$RELEASE_0_1_0" | tar -x -C "$src"
make -C "$src" -s -j"$(nproc)" PG_CONFIG="$PG_CONFIG" >/dev/null
make -C "$src" -s PG_CONFIG="$PG_CONFIG" install DESTDIR="$dest" >/dev/null
[ "$(id -u)" = 0 ] && chown -R postgres: "$dest"
echo "segment 0.1.0 installed under $dest"
