#!/bin/sh
# Entrypoint of localhost/pgback-seaweedfs: the same interface as the public
# image's. The first argument is a weed command; for the commands that store
# data, /data is the default place and the defaults suit one container.
set -eu

# has_flag NAME ARGS...: is -NAME or -NAME=... among ARGS?
has_flag() {
	name="$1"
	shift
	for arg in "$@"; do
		case "$arg" in
		"$name" | "$name"=*) return 0 ;;
		esac
	done
	return 1
}

command="${1:-}"
[ "$#" -eq 0 ] || shift
case "$command" in
server)
	set -- -dir=/data -master.telemetry=false "$@"
	has_flag -volume.max "$@" || set -- -volume.max=0 "$@"
	has_flag -master.volumeSizeLimitMB "$@" || set -- -master.volumeSizeLimitMB=1024 "$@"
	has_flag -ip.bind "$@" || set -- -ip.bind=0.0.0.0 "$@"
	exec /usr/bin/weed server "$@"
	;;
master)
	set -- -mdir=/data -telemetry=false "$@"
	has_flag -volumeSizeLimitMB "$@" || set -- -volumeSizeLimitMB=1024 "$@"
	exec /usr/bin/weed master "$@"
	;;
volume)
	set -- -dir=/data "$@"
	has_flag -max "$@" || set -- -max=0 "$@"
	exec /usr/bin/weed volume "$@"
	;;
"")
	exec /usr/bin/weed
	;;
*)
	exec /usr/bin/weed "$command" "$@"
	;;
esac
