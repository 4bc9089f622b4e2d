#!/usr/bin/env bash
# scripts/container-engine.sh: a Docker-compatible container engine and the
# project's locally built images, for testcontainers and the docker scenario
# backend.
#
# Use from CI (.ci/run) or a shell; both forms fail (non-zero) on any error:
#
#     source scripts/container-engine.sh || exit 1     # sets up, exports the variables
#
#     env_lines="$(bash scripts/container-engine.sh --print-env)" || exit 1
#     eval "$env_lines"
#         (not `eval "$(bash ...)"`, nor `x="$(...)" && eval "$x"` under set -e:
#          both go on after a failure)
#
# Sourcing runs the setup in a child bash (so the caller's shell options are
# left alone) and exports its result. Run directly, the script prints only
# `export NAME=value` lines on stdout; progress goes to stderr with timestamps.
#
# What it does, idempotently (a second run takes a few seconds):
#   1. If a Docker engine already answers (DOCKER_HOST, /var/run/docker.sock,
#      or our podman socket from an earlier run), use it. Otherwise install
#      rootful podman from Debian (apt-get update at most once), write
#      /etc/containers/containers.conf for this host (runc, cgroupfs, file
#      events, ulimits within the host's hard limits) and start
#      `podman system service --time=0 unix:///run/pgback-podman.sock` in the
#      background (log: /var/log/pgback-podman.log).
#   2. Build the images locally (there is no registry), each skipped when it
#      is already there and up to date:
#        localhost/pgback-debian:SUITE      debootstrap --variant=minbase, one
#                                           per suite used (bookworm, trixie,
#                                           sid), rootfs cached in
#                                           /var/cache/pgback
#        localhost/pgback-postgres:N        docker/postgres/Dockerfile, for each
#                                           major N of PGBACK_DOCKER_PG_MAJORS
#                                           (default "15 17 18": 15 from
#                                           bookworm, 17 from trixie, 18 from
#                                           sid: what Debian ships there)
#        localhost/pgback-s3:latest         docker/s3/Dockerfile (moto server)
#        localhost/pgback-seaweedfs:latest  docker/seaweedfs/Dockerfile
#        localhost/pgback:dev               ./Dockerfile, only if it exists, on
#                                           localhost/pgback-debian:trixie with
#                                           PG_APT_SOURCE=debian (clients 15, 17,
#                                           18 side by side); always rebuilt
#                                           (layer cache)
#      postgres, s3 and seaweedfs carry a label with a hash of their build
#      context, build arguments and base image: editing docker/postgres/*
#      rebuilds those images.
#   3. Print (and when sourced, export):
#        DOCKER_HOST, TESTCONTAINERS_RYUK_DISABLED=true,
#        TESTCONTAINERS_CONNECTION_MODE=docker_host,
#        TESTCONTAINERS_HOST_OVERRIDE=127.0.0.1 (podman only: published ports
#          listen on the host's IPv4 addresses, not on ::1; without it
#          testcontainers says "localhost"),
#        PGBACK_DOCKER_POSTGRES_IMAGE_<N> for each major built (e.g.
#          PGBACK_DOCKER_POSTGRES_IMAGE_17=localhost/pgback-postgres:17),
#        PGBACK_DOCKER_S3_IMAGE_MOTO, PGBACK_DOCKER_S3_IMAGE_SEAWEEDFS,
#        PGBACK_DOCKER_POSTGRES_IMAGE and PGBACK_DOCKER_S3_IMAGE (the defaults:
#          PostgreSQL 15 and moto, as before), PGBACK_DOCKER_SIDECAR_IMAGE (its
#          client tools read the archives of every major built).
#
# Options: --print-env (the default action, named for readability),
#          --no-sidecar (skip ./Dockerfile; or PGBACK_BUILD_SIDECAR=0), -h|--help.
# Environment: PGBACK_PODMAN_SOCKET (default /run/pgback-podman.sock),
#              PGBACK_CACHE_DIR (default /var/cache/pgback),
#              PGBACK_BUILD_SIDECAR (default 1),
#              PGBACK_DOCKER_PG_MAJORS (default "15 17 18").

# ---------------------------------------------------------------- sourced --
if [[ "${BASH_SOURCE[0]}" != "${0}" ]]; then
	# No arguments are passed on: `source FILE` without any would hand the
	# caller's own positional parameters to the script.
	__pgback_ce_out="$(bash "${BASH_SOURCE[0]}" --print-env)" || {
		echo "container-engine.sh: FAILED (see the messages above)" >&2
		unset __pgback_ce_out
		return 1
	}
	eval "$__pgback_ce_out"
	unset __pgback_ce_out
	return 0
fi

# --------------------------------------------------------------- executed --
set -Eeuo pipefail

SOCKET="${PGBACK_PODMAN_SOCKET:-/run/pgback-podman.sock}"
CACHE_DIR="${PGBACK_CACHE_DIR:-/var/cache/pgback}"
SERVICE_LOG=/var/log/pgback-podman.log
SERVICE_PID=/run/pgback-podman.pid
CONTAINERS_CONF=/etc/containers/containers.conf
CONF_MARKER="# written by pgback scripts/container-engine.sh"

BASE_SUITE=bookworm
BASE_IMAGE=localhost/pgback-debian:$BASE_SUITE
POSTGRES_REPO=localhost/pgback-postgres
DEFAULT_PG_MAJOR=15
S3_IMAGE=localhost/pgback-s3:latest
SEAWEEDFS_IMAGE=localhost/pgback-seaweedfs:latest
SIDECAR_IMAGE=localhost/pgback:dev
# the sidecar's base: trixie's own client is 17; bookworm's 15 and sid's 18 install beside it
SIDECAR_SUITE=trixie
PG_MAJORS="${PGBACK_DOCKER_PG_MAJORS:-15 17 18}"
# the Debian suite that ships each PostgreSQL major as `postgresql-N`
suite_for_major() {
	case "$1" in
	13) echo bullseye ;;
	15) echo bookworm ;;
	17) echo trixie ;;
	18) echo sid ;;
	*) return 1 ;;
	esac
}

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD_SIDECAR="${PGBACK_BUILD_SIDECAR:-1}"
START_TS=$SECONDS

for arg in "$@"; do
	case "$arg" in
	--print-env) ;;
	--no-sidecar) BUILD_SIDECAR=0 ;;
	-h | --help)
		sed -n '2,/^$/p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
		exit 0
		;;
	*)
		echo "container-engine.sh: unknown argument: $arg (try --help)" >&2
		exit 2
		;;
	esac
done

log() { printf '[%s] container-engine: %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
die() {
	printf '[%s] container-engine: ERROR: %s\n' "$(date -u +%H:%M:%S)" "$*" >&2
	exit 1
}
# shellcheck disable=SC2154 # rc is assigned inside the trap
trap 'rc=$?; printf "[%s] container-engine: FAILED (exit %s) at line %s: %s\n" "$(date -u +%H:%M:%S)" "$rc" "$LINENO" "$BASH_COMMAND" >&2' ERR

# step NAME CMD...: run a long step with its duration logged. CMD is one
# command or a function whose status is that of its last pipeline.
step() {
	local name="$1" t0=$SECONDS rc=0
	shift
	log "$name ..."
	"$@" || rc=$?
	((rc == 0)) || die "$name failed (exit $rc after $((SECONDS - t0)) s; its output is above)"
	log "$name done in $((SECONDS - t0)) s"
}

[[ "$(id -u)" == 0 ]] || die "must run as root (rootful podman, apt-get, debootstrap)"

# Only one run at a time (two CI steps, or a developer and CI).
mkdir -p "$CACHE_DIR"
exec 9>"$CACHE_DIR/.lock"
flock -w 1800 9 || die "could not lock $CACHE_DIR/.lock within 30 min"

# ------------------------------------------------------------------ apt --
APT_UPDATED=0
# one apt-get at a time: CI runs this script in the background while it installs its own tools,
# and a second apt-get fails on dpkg's lock instead of waiting (.ci/run takes the same lock)
apt_get() {
	flock -w 1800 /tmp/pgback-apt.lock \
		env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 "$@"
}
apt_install() {
	local missing=() pkg
	for pkg in "$@"; do
		dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'ok installed' || missing+=("$pkg")
	done
	((${#missing[@]})) || return 0
	if ((!APT_UPDATED)); then
		step "apt-get update" apt_get update -qq
		APT_UPDATED=1
	fi
	step "apt-get install ${missing[*]}" \
		apt_get install -y -qq --no-install-recommends "${missing[@]}" >&2
}

# --------------------------------------------------------------- engine --
# engine_answers URL: does a Docker-compatible API answer at URL?
engine_answers() {
	local url="$1"
	case "$url" in
	unix://*)
		local path="${url#unix://}"
		[[ -S "$path" ]] || return 1
		[[ "$(curl -sS --max-time 5 --unix-socket "$path" http://d/_ping 2>/dev/null)" == OK ]]
		;;
	tcp://* | http://*)
		local hostport="${url#*://}"
		[[ "$(curl -sS --max-time 5 "http://${hostport%/}/_ping" 2>/dev/null)" == OK ]]
		;;
	*)
		DOCKER_HOST="$url" docker info >/dev/null 2>&1
		;;
	esac
}

# Container ulimits: the engines' defaults (1048576) exceed this host's hard
# limits, and runc then fails with "error setting rlimits for ready process:
# error setting rlimit type 6 [or 7]: operation not permitted".
HARD_NOFILE="$(ulimit -Hn)"
HARD_NPROC="$(ulimit -Hu)"
NOFILE=1048576
[[ "$HARD_NOFILE" == unlimited ]] || ((HARD_NOFILE >= NOFILE)) || NOFILE="$HARD_NOFILE"
# podman (containers/common) lowers its own RLIMIT_NPROC to kernel.pid_max at
# start, and a container cannot get more than podman has.
NPROC="$(cat /proc/sys/kernel/pid_max 2>/dev/null || echo 32768)"
((NPROC <= 1048576)) || NPROC=1048576
[[ "$HARD_NPROC" == unlimited ]] || ((HARD_NPROC >= NPROC)) || NPROC="$HARD_NPROC"
# `podman build` does not apply containers.conf's default_ulimits to RUN steps.
BUILD_OPTS=(--ulimit "nofile=${NOFILE}:${NOFILE}" --ulimit "nproc=${NPROC}:${NPROC}")
# HTTPS from a build (pip) must trust what the host trusts: this host's egress
# may re-sign TLS with a CA that only the host's bundle holds. The bundle is
# mounted for the RUN steps only, never stored in an image; a Dockerfile uses
# it with `[ -s "$HOST_CA" ] && export PIP_CERT="$HOST_CA"` (see docker/s3).
HOST_CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt
BUILD_CA_PATH=/run/pgback-host-ca/ca-certificates.crt

write_containers_conf() {
	local nofile="$NOFILE" nproc="$NPROC"
	local want
	want="$(
		cat <<-EOF
			$CONF_MARKER
			# crun fails on this host's hybrid cgroups: use runc and cgroupfs;
			# there is no systemd/journald: events and logs go to files.
			[containers]
			default_ulimits = ["nofile=${nofile}:${nofile}", "nproc=${nproc}:${nproc}"]
			log_driver = "k8s-file"

			[engine]
			runtime = "runc"
			cgroup_manager = "cgroupfs"
			events_logger = "file"

			[network]
			network_backend = "netavark"
		EOF
	)"
	if [[ -f "$CONTAINERS_CONF" ]] && [[ "$(cat "$CONTAINERS_CONF")" == "$want" ]]; then
		return 0
	fi
	if [[ -f "$CONTAINERS_CONF" ]] && ! grep -qxF "$CONF_MARKER" "$CONTAINERS_CONF"; then
		log "keeping a copy of the existing $CONTAINERS_CONF as $CONTAINERS_CONF.pgback-orig"
		cp -p "$CONTAINERS_CONF" "$CONTAINERS_CONF.pgback-orig"
	fi
	mkdir -p "$(dirname "$CONTAINERS_CONF")"
	printf '%s\n' "$want" >"$CONTAINERS_CONF"
	CONF_CHANGED=1
	log "wrote $CONTAINERS_CONF (nofile=$nofile, nproc=$nproc)"
}
CONF_CHANGED=0

stop_podman_service() {
	local pid
	[[ -f "$SERVICE_PID" ]] || return 0
	pid="$(cat "$SERVICE_PID")"
	# Only our service: after a restart of the machine the pid may be another's.
	if kill -0 "$pid" 2>/dev/null && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF "system service --time=0 unix://$SOCKET"; then
		log "stopping podman service pid $pid"
		kill "$pid" || true
		local i
		for ((i = 0; i < 100; i++)); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
	fi
	rm -f "$SERVICE_PID"
}

# With Ryuk disabled nothing reaps what a killed test run left behind. The
# service was not answering, so no test can be using these now.
remove_orphans() {
	local ids
	ids="$(podman ps -aq --filter label=org.testcontainers=true)"
	if [[ -n "$ids" ]]; then
		log "removing $(wc -w <<<"$ids") container(s) left by earlier test runs"
		# shellcheck disable=SC2086 # one id per word
		podman rm -f -v $ids >/dev/null || log "could not remove some of them (go on)"
	fi
	ids="$(podman network ls -q --filter label=org.testcontainers=true)"
	if [[ -n "$ids" ]]; then
		log "removing $(wc -w <<<"$ids") network(s) left by earlier test runs"
		# shellcheck disable=SC2086 # one id per word
		podman network rm -f $ids >/dev/null || log "could not remove some of them (go on)"
	fi
}

start_podman_service() {
	apt_install podman runc netavark aardvark-dns iptables curl
	write_containers_conf
	stop_podman_service
	rm -f "$SOCKET"
	mkdir -p "$(dirname "$SOCKET")"
	log "starting podman system service on unix://$SOCKET (log: $SERVICE_LOG)"
	{
		echo "=== $(date -u '+%F %T UTC') started by scripts/container-engine.sh ==="
	} >>"$SERVICE_LOG"
	# fd 9 (our lock) must not leak into the long-lived service. It runs from /:
	# conmon fails every container start ("write child: broken pipe") once the
	# service's working directory is gone, e.g. the clone it was started from.
	(cd / && exec nohup podman system service --time=0 "unix://$SOCKET" >>"$SERVICE_LOG" 2>&1 </dev/null 9>&-) &
	echo $! >"$SERVICE_PID"
	local pid i
	pid="$(cat "$SERVICE_PID")"
	for ((i = 0; i < 300; i++)); do
		if engine_answers "unix://$SOCKET"; then
			log "podman service (pid $pid) answers after $((i / 10)).$((i % 10)) s"
			remove_orphans
			return 0
		fi
		if ! kill -0 "$pid" 2>/dev/null; then
			tail -n 30 "$SERVICE_LOG" >&2 || true
			die "podman system service exited at once (log above, from $SERVICE_LOG)"
		fi
		sleep 0.1
	done
	tail -n 30 "$SERVICE_LOG" >&2 || true
	die "podman system service did not answer on $SOCKET within 30 s (log above)"
}

ENGINE_URL=""
CLI=""
if [[ -n "${DOCKER_HOST:-}" ]] && [[ "$DOCKER_HOST" != "unix://$SOCKET" ]] && engine_answers "$DOCKER_HOST"; then
	ENGINE_URL="$DOCKER_HOST"
elif [[ -z "${DOCKER_HOST:-}" ]] && engine_answers unix:///var/run/docker.sock; then
	ENGINE_URL=unix:///var/run/docker.sock
fi

if [[ -n "$ENGINE_URL" ]]; then
	log "a Docker engine already answers at $ENGINE_URL; not installing podman"
	command -v docker >/dev/null || die "no docker CLI to build the images with on $ENGINE_URL"
	export DOCKER_HOST="$ENGINE_URL"
	CLI=docker
else
	if engine_answers "unix://$SOCKET"; then
		log "podman service already answers on unix://$SOCKET"
		write_containers_conf
		if ((CONF_CHANGED)); then
			# The service reads containers.conf only when it starts.
			[[ -f "$SERVICE_PID" ]] || die "$CONTAINERS_CONF changed but the service on $SOCKET was not started by this script (no $SERVICE_PID): restart it by hand"
			log "restarting the podman service to apply the new $CONTAINERS_CONF"
			start_podman_service
		elif [[ -f "$SERVICE_PID" ]] && [[ "$(readlink "/proc/$(cat "$SERVICE_PID")/cwd" 2>/dev/null)" == *" (deleted)" ]]; then
			# Started by an older version of this script from a directory since removed.
			log "restarting the podman service: its working directory was removed"
			start_podman_service
		fi
	else
		start_podman_service
	fi
	ENGINE_URL="unix://$SOCKET"
	CLI=podman
fi

# --------------------------------------------------------------- images --
image_exists() { "$CLI" image inspect "$1" >/dev/null 2>&1; }
image_label() { "$CLI" image inspect --format "{{ index .Config.Labels \"$2\" }}" "$1" 2>/dev/null || true; }
image_id() { "$CLI" image inspect --format '{{.Id}}' "$1"; }

# apt sources for a suite: the host's own file for its suite, else the same
# mirror with that suite (and its updates and security suites, which sid has
# not).
write_sources() {
	local suite="$1" target="$2" mirror="$3"
	if [[ "$suite" == "$BASE_SUITE" ]] && [[ -f /etc/apt/sources.list.d/debian.sources ]]; then
		cp /etc/apt/sources.list.d/debian.sources "$target"
		return 0
	fi
	local suites="$suite" security=""
	if [[ "$suite" != sid ]]; then
		suites="$suite $suite-updates"
		security="${mirror%/debian}/debian-security"
	fi
	{
		printf 'Types: deb\nURIs: %s\nSuites: %s\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' "$mirror" "$suites"
		if [[ -n "$security" ]]; then
			printf '\nTypes: deb\nURIs: %s\nSuites: %s-security\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' "$security" "$suite"
		fi
	} >"$target"
}

# Bumped when the base images change: older ones are imported again (from the
# cached rootfs when it is still complete).
BASE_VERSION=2

# build_base SUITE: localhost/pgback-debian:SUITE from a cached debootstrap.
build_base() {
	local suite="$1" image="localhost/pgback-debian:$1"
	if image_exists "$image" && [[ "$(image_label "$image" org.pgback.base-version)" == "$BASE_VERSION" ]]; then
		log "$image exists"
		return 0
	fi
	apt_install debootstrap
	local rootfs="$CACHE_DIR/rootfs-$suite"
	if [[ ! -f "$rootfs/.pgback-complete" ]] || ! grep -qxF "$BASE_VERSION" "$rootfs/.pgback-complete"; then
		local tmp="$rootfs.tmp"
		rm -rf "$tmp" "$rootfs"
		# The mirror the host uses (no host name hard-coded here).
		local mirror=""
		if [[ -f /etc/apt/sources.list.d/debian.sources ]]; then
			mirror="$(awk '/^URIs:/ && $2 !~ /security/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources)"
		fi
		[[ -n "$mirror" ]] || [[ "$suite" == "$BASE_SUITE" ]] || die "no Debian mirror found in /etc/apt/sources.list.d/debian.sources for $suite"
		step "debootstrap --variant=minbase $suite" \
			debootstrap --variant=minbase "$suite" "$tmp" ${mirror:+"$mirror"} >&2
		if [[ -n "$mirror" ]]; then
			write_sources "$suite" "$tmp/etc/apt/sources.list.d/debian.sources" "$mirror"
			rm -f "$tmp/etc/apt/sources.list"
		fi
		# Small images: no docs, man pages or translations, now or from later
		# layers (copyright files stay).
		find "$tmp/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete
		find "$tmp/usr/share/doc" -mindepth 1 -type d -empty -delete
		rm -rf "$tmp"/usr/share/man/* "$tmp"/usr/share/info/*
		find "$tmp/usr/share/locale" -mindepth 1 -maxdepth 1 -not -name locale.alias -exec rm -rf {} +
		cat >"$tmp/etc/dpkg/dpkg.cfg.d/pgback-nodoc" <<-'EOF'
			path-exclude /usr/share/doc/*
			path-include /usr/share/doc/*/copyright
			path-exclude /usr/share/man/*
			path-exclude /usr/share/info/*
			path-exclude /usr/share/locale/*
			path-include /usr/share/locale/locale.alias
		EOF
		cat >"$tmp/etc/apt/apt.conf.d/pgback-docker" <<-'EOF'
			APT::Install-Recommends "false";
			APT::Install-Suggests "false";
			Acquire::Languages "none";
		EOF
		if [[ "$suite" == sid ]]; then
			# sid's Release file carries a Valid-Until date a week ahead; a mirror that
			# is a frozen snapshot serves it expired, and apt then refuses it
			echo 'Acquire::Check-Valid-Until "false";' >"$tmp/etc/apt/apt.conf.d/pgback-snapshot"
		fi
		rm -rf "$tmp"/var/cache/apt/archives/*.deb "$tmp"/var/lib/apt/lists/*
		echo "$BASE_VERSION" >"$tmp/.pgback-complete"
		mv "$tmp" "$rootfs"
	else
		log "using the cached rootfs $rootfs"
	fi
	import_rootfs() {
		tar --exclude=./.pgback-complete -C "$rootfs" -c . |
			"$CLI" import --change 'CMD ["/bin/bash"]' --change 'ENV LANG=C.UTF-8' \
				--change "LABEL org.pgback.base-version=$BASE_VERSION" - "$image" >/dev/null
	}
	step "import $image" import_rootfs
}

# build_opts: options common to every image build.
build_opts=()
set_build_opts() {
	build_opts=("${BUILD_OPTS[@]}")
	if [[ "$CLI" == podman ]] && [[ -s "$HOST_CA_BUNDLE" ]]; then
		build_opts+=(--volume "$HOST_CA_BUNDLE:$BUILD_CA_PATH:ro")
	fi
	build_opts+=(--build-arg "HOST_CA=$BUILD_CA_PATH")
}

# context_hash DIR BASE [ARG...]: hash of the files under DIR, of the base
# image's id and of the build arguments.
context_hash() {
	local dir="$1" base="$2"
	shift 2
	{
		image_id "$base"
		printf '%s\n' "$@"
		(cd "$dir" && find . -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum)
	} | sha256sum | cut -c1-16
}

# build_dir_image NAME DIR [BASE [BUILD-ARG...]]: BASE defaults to the
# bookworm base; each BUILD-ARG is NAME=VALUE.
build_dir_image() {
	local name="$1" dir="$2" base="${3:-$BASE_IMAGE}" hash have
	shift 2
	(($# == 0)) || shift
	local args=(--build-arg "BASE_IMAGE=$base") arg
	for arg in "$@"; do args+=(--build-arg "$arg"); done
	[[ -f "$dir/Dockerfile" ]] || die "missing $dir/Dockerfile"
	hash="$(context_hash "$dir" "$base" "$@")"
	have="$(image_label "$name" org.pgback.context-hash)"
	if [[ "$have" == "$hash" ]]; then
		log "$name exists and is up to date ($hash)"
		return 0
	fi
	[[ -z "$have" ]] || log "$name is out of date ($have != $hash)"
	local pull=(--pull=never) old_id=""
	[[ "$CLI" == podman ]] || pull=(--pull=false)
	[[ -z "$have" ]] || old_id="$(image_id "$name" 2>/dev/null || true)"
	step "build $name from ${dir#"$REPO_ROOT"/}" \
		"$CLI" build "${pull[@]}" "${build_opts[@]}" "${args[@]}" \
		--label "org.pgback.context-hash=$hash" -t "$name" "$dir" >&2
	# Drop the replaced image unless a container still uses it.
	if [[ -n "$old_id" ]] && [[ "$old_id" != "$(image_id "$name")" ]]; then
		"$CLI" rmi "$old_id" >/dev/null 2>&1 || true
	fi
}

build_sidecar() {
	if [[ ! -f "$REPO_ROOT/Dockerfile" ]]; then
		log "no ./Dockerfile yet: not building $SIDECAR_IMAGE"
		return 0
	fi
	build_base "$SIDECAR_SUITE"
	local pull=(--pull=never --format docker)  # docker format: podman's OCI default drops HEALTHCHECK
	[[ "$CLI" == podman ]] || pull=(--pull=false)
	# Debian's mirror is the only package source these machines reach: PostgreSQL clients 15,
	# 17 and 18 (what Debian has), side by side; users' default build takes PGDG's
	local apt_source="${PGBACK_SIDECAR_PG_APT_SOURCE:-debian}"
	step "build $SIDECAR_IMAGE from ./Dockerfile" \
		"$CLI" build "${pull[@]}" "${build_opts[@]}" \
		--build-arg "BASE_IMAGE=localhost/pgback-debian:$SIDECAR_SUITE" \
		--build-arg "PG_APT_SOURCE=$apt_source" \
		-t "$SIDECAR_IMAGE" -f "$REPO_ROOT/Dockerfile" "$REPO_ROOT" >&2
}

build_base "$BASE_SUITE"
set_build_opts
for major in $PG_MAJORS; do
	suite="$(suite_for_major "$major")" || die "no Debian suite known for PostgreSQL $major (PGBACK_DOCKER_PG_MAJORS=$PG_MAJORS)"
	build_base "$suite"
	build_dir_image "$POSTGRES_REPO:$major" "$REPO_ROOT/docker/postgres" \
		"localhost/pgback-debian:$suite" "PG_MAJOR=$major"
done
build_dir_image "$S3_IMAGE" "$REPO_ROOT/docker/s3"
build_dir_image "$SEAWEEDFS_IMAGE" "$REPO_ROOT/docker/seaweedfs"
if ((BUILD_SIDECAR)); then build_sidecar; fi

log "ready in $((SECONDS - START_TS)) s: engine $ENGINE_URL"

# ------------------------------------------------------------------ env --
emit() { printf 'export %s=%q\n' "$1" "$2"; }
emit DOCKER_HOST "$ENGINE_URL"
emit TESTCONTAINERS_RYUK_DISABLED true
emit TESTCONTAINERS_CONNECTION_MODE docker_host
if [[ "$CLI" == podman ]]; then
	emit TESTCONTAINERS_HOST_OVERRIDE 127.0.0.1
fi
for major in $PG_MAJORS; do
	emit "PGBACK_DOCKER_POSTGRES_IMAGE_$major" "$POSTGRES_REPO:$major"
done
emit PGBACK_DOCKER_POSTGRES_IMAGE "$POSTGRES_REPO:$DEFAULT_PG_MAJOR"
emit PGBACK_DOCKER_S3_IMAGE_MOTO "$S3_IMAGE"
emit PGBACK_DOCKER_S3_IMAGE_SEAWEEDFS "$SEAWEEDFS_IMAGE"
emit PGBACK_DOCKER_S3_IMAGE "$S3_IMAGE"
emit PGBACK_DOCKER_SIDECAR_IMAGE "$SIDECAR_IMAGE"
