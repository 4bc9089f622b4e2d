#!/usr/bin/env bash
# Entrypoint of localhost/pgback-postgres: behaves like the official postgres
# image's docker-entrypoint.sh, in a smaller way.
#
#   POSTGRES_USER      superuser created by initdb (default: postgres)
#   POSTGRES_PASSWORD  its password; required unless POSTGRES_HOST_AUTH_METHOD=trust
#   POSTGRES_DB        database created at init (default: $POSTGRES_USER)
#   POSTGRES_INITDB_ARGS, POSTGRES_HOST_AUTH_METHOD (default: scram-sha-256)
#   *_FILE variants of the first four read the value from a file (secrets).
#   /docker-entrypoint-initdb.d/*.sh|*.sql|*.sql.gz run once, after init.
#
# initdb runs only when $PGDATA holds no cluster. During init a temporary
# server listens on the Unix socket only, so a TCP probe (testcontainers runs
# `psql --host 127.0.0.1` inside the container) succeeds only once the final
# server is up. The final server runs in the foreground (exec) as postgres,
# listening on '*' port 5432, and logs to stderr: "database system is ready to
# accept connections" appears once for the temporary and once for the final
# server, as with the official image.
set -Eeuo pipefail

log() { printf '%s pgback-entrypoint: %s\n' "$(date -u '+%Y-%m-%d %H:%M:%S UTC')" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# file_env VAR [DEFAULT]: VAR or the contents of the file named by VAR_FILE.
file_env() {
	local var="$1" def="${2:-}" fvar="${1}_FILE"
	local val="$def"
	if [ -n "${!var:-}" ] && [ -n "${!fvar:-}" ]; then
		die "both $var and $fvar are set (they are exclusive)"
	fi
	if [ -n "${!var:-}" ]; then
		val="${!var}"
	elif [ -n "${!fvar:-}" ]; then
		val="$(<"${!fvar}")"
	fi
	export "$var"="$val"
	unset "$fvar"
}

# First argument an option? Then it is meant for postgres.
if [ "$#" -eq 0 ] || [ "${1:0:1}" = '-' ]; then
	set -- postgres "$@"
fi

# Anything but the server (bash, psql, ...) runs as given.
if [ "$1" != 'postgres' ]; then
	exec "$@"
fi

: "${PGDATA:=/var/lib/postgresql/data}"
export PGDATA

if [ "$(id -u)" = '0' ]; then
	# As root: fix ownership of the data and socket directories, then run this
	# script again as postgres.
	mkdir -p "$PGDATA" /var/run/postgresql
	chown postgres:postgres /var/run/postgresql
	chmod 3777 /var/run/postgresql
	if [ "$(stat -c %U "$PGDATA")" != 'postgres' ]; then
		chown -R postgres:postgres "$PGDATA"
	fi
	chmod 700 "$PGDATA"
	exec setpriv --reuid=postgres --regid=postgres --init-groups "${BASH_SOURCE[0]}" "$@"
fi

file_env POSTGRES_USER postgres
file_env POSTGRES_PASSWORD
file_env POSTGRES_DB "$POSTGRES_USER"
file_env POSTGRES_INITDB_ARGS
: "${POSTGRES_HOST_AUTH_METHOD:=scram-sha-256}"

if [ ! -s "$PGDATA/PG_VERSION" ]; then
	if [ -z "$POSTGRES_PASSWORD" ] && [ "$POSTGRES_HOST_AUTH_METHOD" != 'trust' ]; then
		die "database is uninitialized and POSTGRES_PASSWORD is empty; set it (or POSTGRES_HOST_AUTH_METHOD=trust)"
	fi
	if [ -n "$(ls -A "$PGDATA")" ]; then
		die "$PGDATA is not empty but holds no cluster (no PG_VERSION)"
	fi

	log "initdb in $PGDATA for superuser \"$POSTGRES_USER\""
	pwfile="$(mktemp)"
	printf '%s\n' "$POSTGRES_PASSWORD" >"$pwfile"
	# shellcheck disable=SC2086 # POSTGRES_INITDB_ARGS is a list of options
	initdb --username="$POSTGRES_USER" --pwfile="$pwfile" \
		--encoding=UTF8 --locale=C.UTF-8 $POSTGRES_INITDB_ARGS >&2
	rm -f "$pwfile"

	{
		echo
		echo "# added by pgback-entrypoint"
		echo "listen_addresses = '*'"
		echo "port = 5432"
	} >>"$PGDATA/postgresql.conf"
	{
		echo
		echo "# added by pgback-entrypoint: password auth from any host"
		echo "host all all all $POSTGRES_HOST_AUTH_METHOD"
	} >>"$PGDATA/pg_hba.conf"

	# Temporary server on the Unix socket only.
	pg_ctl -D "$PGDATA" -o "-c listen_addresses='' -p 5432" -w start

	export PGUSER="$POSTGRES_USER" PGPASSWORD="$POSTGRES_PASSWORD" PGHOST=/var/run/postgresql PGPORT=5432
	psql=(psql -X -v ON_ERROR_STOP=1 --no-password --dbname postgres)
	if [ "$POSTGRES_DB" != 'postgres' ]; then
		log "creating database \"$POSTGRES_DB\""
		"${psql[@]}" -q --set db="$POSTGRES_DB" <<-'SQL'
			CREATE DATABASE :"db";
		SQL
	fi

	shopt -s nullglob
	for f in /docker-entrypoint-initdb.d/*; do
		case "$f" in
		*.sh)
			log "running $f"
			# shellcheck disable=SC1090 # init scripts are sourced, as upstream does
			. "$f"
			;;
		*.sql) log "running $f"; "${psql[@]}" --dbname "$POSTGRES_DB" -f "$f" ;;
		*.sql.gz) log "running $f"; gunzip -c "$f" | "${psql[@]}" --dbname "$POSTGRES_DB" ;;
		*) log "ignoring $f" ;;
		esac
	done
	shopt -u nullglob

	pg_ctl -D "$PGDATA" -m fast -w stop
	unset PGUSER PGPASSWORD PGHOST PGPORT
	log "PostgreSQL init process complete; ready for start up."
else
	log "$PGDATA already holds a cluster; skipping initdb"
fi

exec "$@"
