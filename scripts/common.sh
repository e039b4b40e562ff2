# common.sh -- shared by `make test`, `make demo` and `make bench` (sourced, not run).
#
# Finds or installs PostgreSQL 15 with its server headers, builds and installs
# the extension, and runs commands as an unprivileged user: initdb and the
# server refuse to run as root, so as root we drop to "postgres".

set -euo pipefail

SEGMENT_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PG_MAJOR=${PG_MAJOR:-15}
APT_PACKAGES="postgresql-$PG_MAJOR postgresql-server-dev-$PG_MAJOR libipc-run-perl make gcc"

say() { printf '==> %s\n' "$*"; }

# Run a command with root privileges (we may already be root).
as_root() {
	if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}

# The unprivileged user that owns throwaway clusters.
server_user() {
	if [ "$(id -u)" = 0 ]; then echo postgres; else id -un; fi
}

# Run a command as the server user, keeping the environment we set.  From a
# directory "postgres" cannot enter (a checkout under /root) it starts in /.
as_server_user() {
	if [ "$(id -u)" = 0 ]; then
		if runuser -u postgres -- test -x "$PWD" 2>/dev/null; then
			runuser -u postgres -- env PATH="$PATH" "$@"
		else
			(cd / && runuser -u postgres -- env PATH="$PATH" "$@")
		fi
	else
		"$@"
	fi
}

have_deps() {
	local pgc=$1
	[ -x "$pgc" ] || return 1
	[ -f "$("$pgc" --includedir-server)/postgres.h" ] || return 1
	[ -x "$("$pgc" --bindir)/postgres" ] || return 1
	[ -x "$("$pgc" --bindir)/initdb" ] || return 1
	perl -MIPC::Run -e 1 2>/dev/null || return 1
	command -v make >/dev/null && command -v gcc >/dev/null
}

# Sets PG_CONFIG and puts the server's bindir first on PATH.
ensure_postgres() {
	PG_CONFIG=${PG_CONFIG:-/usr/lib/postgresql/$PG_MAJOR/bin/pg_config}
	if ! have_deps "$PG_CONFIG"; then
		say "installing $APT_PACKAGES"
		as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
		as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $APT_PACKAGES >/dev/null
		have_deps "$PG_CONFIG" || { echo "PostgreSQL $PG_MAJOR is still incomplete after apt-get" >&2; exit 1; }
	fi
	export PG_CONFIG
	PG_BINDIR=$("$PG_CONFIG" --bindir)
	PGXS_DIR=$(dirname "$("$PG_CONFIG" --pgxs)")/..
	PGXS_DIR=$(cd "$PGXS_DIR" && pwd)
	export PATH="$PG_BINDIR:$PATH"
}

# Build with -Werror and install into the server's directories.
build_and_install() {
	say "building (-Werror) and installing segment"
	make -C "$SEGMENT_ROOT" -s PG_CONFIG="$PG_CONFIG" COPT=-Werror >/dev/null
	as_root make -C "$SEGMENT_ROOT" -s PG_CONFIG="$PG_CONFIG" install >/dev/null
}

# A directory the server user can write to and every user can traverse.
server_user_dir() {
	local dir
	dir=$(mktemp -d "${TMPDIR:-/tmp}/segment-$1.XXXXXX")
	chmod 755 "$dir"
	[ "$(id -u)" = 0 ] && chown postgres: "$dir"
	echo "$dir"
}
