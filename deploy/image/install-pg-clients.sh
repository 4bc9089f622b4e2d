#!/bin/sh
# Installs the PostgreSQL client tools of several majors side by side, each in
# /usr/lib/postgresql/<N>/bin (pgback picks, per server, the client of its
# major, else the oldest newer one), and links the newest into /usr/local/bin.
# Run by ./Dockerfile as root; every input comes from the build arguments:
#
#   PG_MAJORS      the majors wanted, e.g. "14 15 16 17 18"
#   PG_APT_SOURCE  pgdg    the PostgreSQL apt repository (apt.postgresql.org) for
#                          the base image's Debian release: every major it has;
#                          a major it lacks fails the build
#                  debian  Debian's own mirror only: each major from whichever
#                          suite of DEBIAN_SUITES carries it (the base's own
#                          first); a major no suite carries is skipped
#   DEBIAN_SUITES  the suites the debian source may take clients from
#   WITH_DRILL     true: the servers of those majors too (postgresql-<N>), for
#                  `pgback drill`'s throwaway scratch server; no cluster is made
#   HOST_CA        a CA bundle mounted for the build only (TLS-intercepting networks)
set -eu

: "${PG_MAJORS:?}" "${PG_APT_SOURCE:?}"
DEBIAN_SUITES="${DEBIAN_SUITES:-}"
HOST_CA="${HOST_CA:-}"
WITH_DRILL="${WITH_DRILL:-false}"
export DEBIAN_FRONTEND=noninteractive
if [ "$WITH_DRILL" = true ]; then
	# Debian's server package would create and start a "main" cluster: drills make their own
	mkdir -p /etc/postgresql-common/createcluster.d
	echo 'create_main_cluster = false' >/etc/postgresql-common/createcluster.d/pgback.conf
fi

# the packages of one major: its client, and its server for drills
packages_of() {
	if [ "$WITH_DRILL" = true ]; then
		echo "postgresql-client-$1$2 postgresql-$1$2"
	else
		echo "postgresql-client-$1$2"
	fi
}
SOURCES=/etc/apt/sources.list.d/debian.sources
# shellcheck source=/dev/null # the image's, not ours
CODENAME="$(. /etc/os-release && echo "${VERSION_CODENAME:-}")"

apt_tls=""
if [ -n "$HOST_CA" ] && [ -s "$HOST_CA" ]; then
	apt_tls="-o Acquire::https::CAInfo=$HOST_CA"
fi

# The base's mirror (deb822 or one-line sources), for the extra suites.
mirror() {
	if [ -f "$SOURCES" ]; then
		awk '/^URIs:/ && $2 !~ /security/ {print $2; exit}' "$SOURCES"
	else
		awk '$1 == "deb" && $0 !~ /security/ {print $2; exit}' /etc/apt/sources.list
	fi
}

has_suite() {
	grep -qsE "^Suites:.*(^| )$1( |$)|^deb .* $1 " "$SOURCES" /etc/apt/sources.list
}

install_from_pgdg() {
	apt-get install -y --no-install-recommends curl
	install -d /usr/share/postgresql-common/pgdg
	key=/usr/share/postgresql-common/pgdg/apt.postgresql.org.asc
	if [ -n "$apt_tls" ]; then
		curl -fsSL --cacert "$HOST_CA" -o "$key" https://www.postgresql.org/media/keys/ACCC4CF8.asc
	else
		curl -fsSL -o "$key" https://www.postgresql.org/media/keys/ACCC4CF8.asc
	fi
	echo "deb [signed-by=$key] https://apt.postgresql.org/pub/repos/apt ${CODENAME}-pgdg main" \
		>/etc/apt/sources.list.d/pgdg.list
	# shellcheck disable=SC2086 # $apt_tls is empty or one option
	apt-get $apt_tls update
	packages=""
	for major in $PG_MAJORS; do packages="$packages $(packages_of "$major" "")"; done
	# shellcheck disable=SC2086 # one word per package and option
	apt-get $apt_tls install -y --no-install-recommends $packages
	apt-get purge -y --auto-remove curl
}

install_from_debian() {
	base_mirror="$(mirror)"
	for suite in $DEBIAN_SUITES; do
		has_suite "$suite" && continue
		# low priority: only the packages named below come from these suites. Signatures are
		# checked; the Release's expiry is not (snapshot mirrors serve expired sid files)
		printf '\nTypes: deb\nURIs: %s\nSuites: %s\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\nCheck-Valid-Until: no\n' \
			"$base_mirror" "$suite" >>"$SOURCES"
		printf 'Package: *\nPin: release n=%s\nPin-Priority: 100\n\n' "$suite" >>/etc/apt/preferences.d/pgback-suites
	done
	apt-get update
	packages="" newest="" newest_suite=""
	for major in $PG_MAJORS; do
		# "postgresql-client-17 | 17.12-0+deb13u1 | http://mirror/debian trixie/main amd64 Packages"
		suite="$(apt-cache madison "postgresql-client-$major" | awk -F'|' 'NR == 1 {split($3, a, " "); split(a[2], b, "/"); print b[1]}')"
		if [ -z "$suite" ]; then
			echo "PostgreSQL $major: no client in the Debian suites $DEBIAN_SUITES: skipped" >&2
			continue
		fi
		packages="$packages $(packages_of "$major" "/$suite")"
		newest="$major" newest_suite="$suite"
	done
	[ -n "$newest" ] || { echo "no PostgreSQL client of $PG_MAJORS in Debian's suites" >&2; exit 1; }
	# every client runs on the newest libpq; the newest client needs it
	# shellcheck disable=SC2086 # one word per package
	apt-get install -y --no-install-recommends $packages "libpq5/$newest_suite"
}

case "$PG_APT_SOURCE" in
pgdg) install_from_pgdg ;;
debian) install_from_debian ;;
*)
	echo "PG_APT_SOURCE=$PG_APT_SOURCE: expected pgdg or debian" >&2
	exit 2
	;;
esac

# Debian's /usr/bin/pg_dump is a wrapper that picks a version by local cluster, which a
# client-only image has not: the newest major's programs go first on PATH instead.
newest="$(find /usr/lib/postgresql -mindepth 1 -maxdepth 1 -type d -printf '%f\n' | sort -n | tail -n 1)"
for program in pg_dump pg_dumpall pg_restore psql; do
	ln -sf "/usr/lib/postgresql/$newest/bin/$program" "/usr/local/bin/$program"
done
for major in $PG_MAJORS; do
	if [ -x "/usr/lib/postgresql/$major/bin/pg_dump" ]; then
		"/usr/lib/postgresql/$major/bin/pg_dump" --version
	fi
done
