# pgback as a sidecar container: `pgback serve` (cron backups, health) by default, and every
# other pgback command through `docker compose exec` or `docker run ... pgback <command>`.
#
#   docker build -t pgback .
#   docker build --build-arg PG_MAJOR=16 -t pgback:pg16 .          # client tools of another major
#   docker build --build-arg PG_APT_SOURCE=debian -t pgback .       # Debian's own client (15)
#
# Build arguments:
#   BASE_IMAGE     a Debian bookworm image (default debian:bookworm-slim; CI passes a local one)
#   PG_MAJOR       major version of the PostgreSQL client tools (default 17). pg_dump must be at
#                  least the server's major version: match your newest server.
#   PG_APT_SOURCE  the apt source line of the PostgreSQL packages (default: PGDG for bookworm).
#                  `debian` installs Debian's own postgresql-client instead (version 15 on
#                  bookworm; PG_MAJOR is then ignored): for builds that only reach Debian's mirror.
#   HOST_CA        a CA bundle mounted during the build only (networks that intercept TLS).
ARG BASE_IMAGE=debian:bookworm-slim

# --- build: pgback and its Python dependencies in a virtual environment ----------------------
FROM ${BASE_IMAGE} AS build
ARG HOST_CA=/run/pgback-host-ca/ca-certificates.crt
RUN set -eux; \
    export DEBIAN_FRONTEND=noninteractive; \
    apt-get update; \
    apt-get install -y --no-install-recommends python3 python3-venv ca-certificates; \
    rm -rf /var/lib/apt/lists/*
COPY pyproject.toml README.md /src/
COPY pgback /src/pgback
RUN set -eux; \
    if [ -s "$HOST_CA" ]; then export PIP_CERT="$HOST_CA"; fi; \
    python3 -m venv /opt/pgback; \
    /opt/pgback/bin/pip install --no-cache-dir --disable-pip-version-check /src; \
    /opt/pgback/bin/pgback --version

# --- runtime: Python, the venv, the PostgreSQL client tools; no compiler, no pip cache ---------
FROM ${BASE_IMAGE}
ARG PG_MAJOR=17
ARG PG_APT_SOURCE="deb [signed-by=/usr/share/postgresql-common/pgdg/apt.postgresql.org.asc] https://apt.postgresql.org/pub/repos/apt bookworm-pgdg main"
ARG HOST_CA=/run/pgback-host-ca/ca-certificates.crt
# tzdata: cron_timezone needs the zone database; ca-certificates: S3 and webhooks over TLS;
# passwd: useradd (not in a minbase debootstrap). The installed major's programs are linked into
# /usr/local/bin: Debian's /usr/bin ones go through a Perl wrapper that picks a version by local
# cluster, which a client-only image does not have.
RUN set -eux; \
    export DEBIAN_FRONTEND=noninteractive; \
    apt_tls=""; curl_tls=""; \
    if [ -s "$HOST_CA" ]; then apt_tls="-o Acquire::https::CAInfo=$HOST_CA"; curl_tls="--cacert $HOST_CA"; fi; \
    apt-get update; \
    apt-get install -y --no-install-recommends python3 ca-certificates tzdata passwd; \
    if [ "$PG_APT_SOURCE" = "debian" ]; then \
        apt-get install -y --no-install-recommends postgresql-client; \
    else \
        apt-get install -y --no-install-recommends curl; \
        install -d /usr/share/postgresql-common/pgdg; \
        curl -fsSL $curl_tls -o /usr/share/postgresql-common/pgdg/apt.postgresql.org.asc \
            https://www.postgresql.org/media/keys/ACCC4CF8.asc; \
        echo "$PG_APT_SOURCE" > /etc/apt/sources.list.d/pgdg.list; \
        apt-get $apt_tls update; \
        apt-get $apt_tls install -y --no-install-recommends "postgresql-client-${PG_MAJOR}"; \
        apt-get purge -y --auto-remove curl; \
    fi; \
    rm -rf /var/lib/apt/lists/*; \
    major="$(ls /usr/lib/postgresql | sort -n | tail -n 1)"; \
    for program in pg_dump pg_dumpall pg_restore psql; do \
        ln -s "/usr/lib/postgresql/$major/bin/$program" "/usr/local/bin/$program"; \
    done; \
    pg_dump --version; \
    if [ "$PG_APT_SOURCE" != "debian" ]; then pg_dump --version | grep -q " ${PG_MAJOR}\."; fi; \
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
