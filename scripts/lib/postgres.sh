# A private, throw-away PostgreSQL server for one test run. Source it.
#
#   pg_start_private   initdb into a temp dir, start on 127.0.0.1 on a free port,
#                      export LANYARD_TEST_POSTGRES_URL; call pg_stop_private
#                      from an EXIT trap.
#   pg_find_bindir     prints the directory that holds initdb/pg_ctl, or fails.
#
# Needs common.sh. initdb refuses to run as root, so as root the server runs as
# the `postgres` system user (created by Debian's postgresql package).

PG_PRIVATE_DIR=""
PG_RUN_AS=()

pg_find_bindir() {
    local initdb_path dir
    if initdb_path=$(command -v initdb 2>/dev/null); then
        dirname "$(readlink -f "$initdb_path")"
        return 0
    fi
    # Debian keeps the server binaries out of PATH, one folder per major version.
    for dir in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
        if [ -x "$dir/initdb" ] && [ -x "$dir/pg_ctl" ]; then
            printf '%s\n' "$dir"
            return 0
        fi
    done
    return 1
}

pg_start_private() {
    local bindir port attempt
    bindir=$(pg_find_bindir) || die "PostgreSQL server binaries (initdb) not found; run scripts/setup-deps"

    PG_PRIVATE_DIR=$(mktemp -d "${TMPDIR:-/tmp}/lanyard-pg.XXXXXX")
    if [ "$(id -u)" -eq 0 ]; then
        id postgres >/dev/null 2>&1 || die "running as root needs the 'postgres' user to run initdb"
        chown postgres: "$PG_PRIVATE_DIR"
        PG_RUN_AS=(runuser -u postgres --)
    fi

    log "postgres: initdb in $PG_PRIVATE_DIR ($("$bindir/postgres" --version))"
    "${PG_RUN_AS[@]}" "$bindir/initdb" -D "$PG_PRIVATE_DIR/data" -U postgres -A trust \
        -E UTF8 --locale=C --no-sync >"$PG_PRIVATE_DIR/initdb.log" 2>&1 ||
        { cat "$PG_PRIVATE_DIR/initdb.log" >&2; die "initdb failed"; }

    # A port picked from the kernel can be taken by someone else before the
    # server binds it; retry with a new one a few times.
    for attempt in 1 2 3 4 5; do
        port=$(pg_free_port)
        if "${PG_RUN_AS[@]}" "$bindir/pg_ctl" -D "$PG_PRIVATE_DIR/data" -l "$PG_PRIVATE_DIR/server.log" \
            -w -t 60 -o "-c listen_addresses=127.0.0.1 -p $port -k $PG_PRIVATE_DIR -c max_connections=300 -c fsync=off -c synchronous_commit=off -c full_page_writes=off" \
            start >/dev/null 2>&1; then
            export LANYARD_TEST_POSTGRES_URL="postgres://postgres@127.0.0.1:${port}/postgres"
            log "postgres: listening on 127.0.0.1:$port (attempt $attempt)"
            return 0
        fi
        warn "postgres did not start on port $port (attempt $attempt)"
    done
    tail -n 30 "$PG_PRIVATE_DIR/server.log" >&2 || true
    die "could not start the private PostgreSQL server"
}

pg_stop_private() {
    [ -n "$PG_PRIVATE_DIR" ] || return 0
    local bindir
    if bindir=$(pg_find_bindir) && [ -f "$PG_PRIVATE_DIR/data/postmaster.pid" ]; then
        "${PG_RUN_AS[@]}" "$bindir/pg_ctl" -D "$PG_PRIVATE_DIR/data" -m immediate -w stop >/dev/null 2>&1 ||
            warn "pg_ctl stop failed for $PG_PRIVATE_DIR"
    fi
    rm -rf "$PG_PRIVATE_DIR"
    PG_PRIVATE_DIR=""
}

# Prints a TCP port on 127.0.0.1 that was free a moment ago.
pg_free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}
