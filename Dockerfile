# pgback as a sidecar container: `pgback serve` (cron backups, health) by default, and every
# other pgback command through `docker compose exec` or `docker run ... pgback <command>`.
#
#   docker build -t pgback .                                       # clients 14-18 from PGDG
#   docker build --build-arg PG_MAJORS="16 17" -t pgback:small .   # only the majors you run
#   docker build --build-arg PG_APT_SOURCE=debian -t pgback .      # Debian's mirror only
#
# The client tools of every major in PG_MAJORS are installed side by side in
# /usr/lib/postgresql/<N>/bin; for each server pgback picks the client of its major, else the
# oldest newer one (pg_dump refuses servers newer than itself; pg_restore reads archives of
# its own major and older). The newest major is also first on PATH.
#
# Build arguments:
#   BASE_IMAGE     a Debian image (default debian:trixie-slim). Builds without a registry
#                  (this repository's CI) pass a locally built Debian trixie instead.
#   PG_MAJORS      client majors to install (default "14 15 16 17 18": the supported ones).
#   PG_APT_SOURCE  pgdg (default): the PostgreSQL apt repository for the base's release,
#                  every major of PG_MAJORS or the build fails. debian: Debian's own mirror
#                  only (networks that reach nothing else): each major from the suite of
#                  DEBIAN_SUITES that carries it, the others skipped; on trixie that is 15
#                  (bookworm), 17 (trixie) and 18 (sid), libpq from the newest.
#   DEBIAN_SUITES  suites the debian source may use (default "bookworm trixie sid").
#   WITH_DRILL     true: restore drills in the image (`pgback drill`, PGBACK_DRILL_CRON): the
#                  PostgreSQL server of each major in PG_MAJORS (for the throwaway scratch
#                  server) and pgback's `drill` extra. Default false: a smaller image.
#   HOST_CA        a CA bundle mounted during the build only (networks that intercept TLS);
#                  where nothing can be mounted (`docker compose build`), ./.build-ca.pem in the
#                  build context serves pip the same way, and stays out of the image.
ARG BASE_IMAGE=debian:trixie-slim

# --- build: pgback and its Python dependencies in a virtual environment ----------------------
FROM ${BASE_IMAGE} AS build
ARG HOST_CA=/run/pgback-host-ca/ca-certificates.crt
ARG WITH_DRILL=false
RUN set -eux; \
    export DEBIAN_FRONTEND=noninteractive; \
    apt-get update; \
    apt-get install -y --no-install-recommends python3 python3-venv ca-certificates; \
    rm -rf /var/lib/apt/lists/*
# .build-ca.pem (optional, git-ignored): the CA of a network that re-signs TLS, for pip only
COPY pyproject.toml README.md .build-ca.pe[m] /src/
COPY pgback /src/pgback
RUN set -eux; \
    if [ -s "$HOST_CA" ]; then export PIP_CERT="$HOST_CA"; \
    elif [ -s /src/.build-ca.pem ]; then export PIP_CERT=/src/.build-ca.pem; fi; \
    python3 -m venv /opt/pgback; \
    extra=""; if [ "$WITH_DRILL" = true ]; then extra="[drill]"; fi; \
    /opt/pgback/bin/pip install --no-cache-dir --disable-pip-version-check "/src$extra"; \
    /opt/pgback/bin/pgback --version

# --- runtime: Python, the venv, the PostgreSQL client tools; no compiler, no pip cache ---------
FROM ${BASE_IMAGE}
ARG PG_MAJORS="14 15 16 17 18"
ARG PG_APT_SOURCE=pgdg
ARG DEBIAN_SUITES="bookworm trixie sid"
ARG WITH_DRILL=false
ARG HOST_CA=/run/pgback-host-ca/ca-certificates.crt
COPY deploy/image/install-pg-clients.sh /usr/local/lib/pgback/install-pg-clients.sh
# tzdata: cron_timezone needs the zone database; ca-certificates: S3 and webhooks over TLS;
# passwd: useradd (not in a minbase debootstrap)
RUN set -eux; \
    export DEBIAN_FRONTEND=noninteractive; \
    apt-get update; \
    apt-get install -y --no-install-recommends python3 ca-certificates tzdata passwd; \
    PG_MAJORS="$PG_MAJORS" PG_APT_SOURCE="$PG_APT_SOURCE" DEBIAN_SUITES="$DEBIAN_SUITES" \
        WITH_DRILL="$WITH_DRILL" HOST_CA="$HOST_CA" sh /usr/local/lib/pgback/install-pg-clients.sh; \
    rm -rf /var/lib/apt/lists/*; \
    groupadd --system --gid 10001 pgback; \
    useradd --system --uid 10001 --gid pgback --home-dir /var/lib/pgback --create-home \
        --shell /usr/sbin/nologin pgback

COPY --from=build /opt/pgback /opt/pgback

ENV PATH=/opt/pgback/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    LANG=C.UTF-8 \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PGBACK_STATE_DIR=/var/lib/pgback

LABEL org.opencontainers.image.title="pgback" \
      org.opencontainers.image.description="PostgreSQL backup sidecar: grouped, streaming, age-encrypted backup sets on S3, with restore"

# numeric, so orchestrators can check runAsNonRoot without reading /etc/passwd
USER 10001:10001
WORKDIR /var/lib/pgback

# `pgback health` reads the status file `serve` writes: it passes while no backup is due yet
# and fails after a failed run or when the next success is overdue.
HEALTHCHECK --interval=30s --timeout=10s --start-period=30s --retries=3 CMD ["pgback", "health"]

# SIGTERM (docker stop) gives a running backup PGBACK_STOP_GRACE_PERIOD (default 30 s) to
# finish, then aborts it cleanly: give the container a longer stop timeout than that.
STOPSIGNAL SIGTERM
ENTRYPOINT ["pgback"]
CMD ["serve"]
