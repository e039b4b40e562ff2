#!/usr/bin/env bash
# test/package.sh -- the Debian package stage of `make test`: builds the
# package (make deb), swaps the source-installed extension for it, checks its
# files, runs `make installcheck` (the pg_regress and isolation suites) on a
# throwaway cluster that preloads the packaged library, then removes the
# package and installs the source build again, as `make test` left it.
#   SEGMENT_ALREADY_BUILT=1 (set by make test) skips the first build.
# Run by `make test`; alone: bash test/package.sh
source "$(dirname "$0")/../scripts/common.sh"

ensure_postgres
[ -n "${SEGMENT_ALREADY_BUILT:-}" ] || build_and_install

started=$SECONDS
pkg=postgresql-$PG_MAJOR-segment
version=$(sed -n "s/^default_version = '\(.*\)'/\1/p" "$SEGMENT_ROOT/segment.control")
libdir=$("$PG_CONFIG" --pkglibdir)
extdir=$("$PG_CONFIG" --sharedir)/extension

bash "$SEGMENT_ROOT/scripts/deb.sh"
deb=$(ls "$SEGMENT_ROOT/dist/${pkg}_${version}-"*"_$(dpkg --print-architecture).deb")

dir=$(server_user_dir package)
port=$((20000 + RANDOM % 20000)) # the socket is in $dir: no other server can hold it
package_installed() { [ "$(dpkg-query -W -f='${db:Status-Abbrev}' "$pkg" 2>/dev/null)" = "ii " ]; }
restore() {
	as_server_user pg_ctl -D "$dir/data" -m immediate stop >/dev/null 2>&1 || true
	rm -rf "$dir"
	if package_installed; then
		say "package: removing $pkg, installing the source build again"
		as_root dpkg -r "$pkg" >/dev/null 2>&1 # (postgresql-common rebuilds its dictionaries, noisily)
	fi
	build_and_install
}
trap restore EXIT

# What `make install` installs, to compare with the package's files.
make -C "$SEGMENT_ROOT" -s PG_CONFIG="$PG_CONFIG" install DESTDIR="$dir/destdir" >/dev/null
expected_files=$(cd "$dir/destdir" && find . ! -type d | sed 's/^\.//' | sort)

# A package left by an interrupted run would make apt-get see nothing to do.
package_installed && as_root dpkg -r "$pkg" >/dev/null 2>&1
say "package: make uninstall, then apt-get install $(basename "$deb")"
as_root make -C "$SEGMENT_ROOT" -s PG_CONFIG="$PG_CONFIG" uninstall >/dev/null
[ ! -e "$libdir/segment.so" ] || { echo "make uninstall left $libdir/segment.so" >&2; exit 1; }
as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$deb" >"$dir/apt.log" 2>&1 ||
	{ cat "$dir/apt.log"; exit 1; }

listed=$(dpkg -L "$pkg")
for f in "$libdir/segment.so" "$extdir/segment.control" "$extdir/segment--$version.sql"; do
	grep -qxF "$f" <<<"$listed" || { echo "dpkg -L $pkg does not list $f" >&2; exit 1; }
done
missing=$(comm -23 <(echo "$expected_files") <(sort <<<"$listed"))
[ -z "$missing" ] || { printf 'installed by make install but not by the package:\n%s\n' "$missing" >&2; exit 1; }
say "package: dpkg -L lists all $(wc -l <<<"$expected_files") files of make install"

as_server_user initdb -D "$dir/data" -A trust >/dev/null
{
	cat "$SEGMENT_ROOT/test/regress.conf" # shared_preload_libraries = 'segment' among them
	echo "port = $port"
	echo "listen_addresses = ''"
	echo "unix_socket_directories = '$dir'"
} >>"$dir/data/postgresql.conf"
as_server_user pg_ctl -D "$dir/data" -l "$dir/server.log" -w start >/dev/null

# installcheck from a copy the server user owns: COPY reads the test data as it.
mkdir "$dir/src"
cp -r "$SEGMENT_ROOT/Makefile" "$SEGMENT_ROOT/segment.control" "$SEGMENT_ROOT/sql" \
	"$SEGMENT_ROOT/expected" "$SEGMENT_ROOT/test" "$dir/src/"
[ "$(id -u)" = 0 ] && chown -R postgres: "$dir/src"
say "package: make installcheck against the packaged extension (port $port)"
if ! (cd "$dir/src" && as_server_user env PGHOST="$dir" PGPORT="$port" PGUSER="$(server_user)" \
	make -s PG_CONFIG="$PG_CONFIG" installcheck); then
	for f in "$dir"/src/regression.diffs "$dir"/src/output_iso/regression.diffs; do
		[ -f "$f" ] && cat "$f"
	done
	tail -n 40 "$dir/server.log"
	exit 1
fi
say "package: passed in $((SECONDS - started)) s"
