#!/usr/bin/env bash
# Starts the local PostgreSQL and Redis that the tests talk to, when they are not up already.
set -euo pipefail

pg_up() { pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; }
redis_up() { redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null | grep -q PONG; }

if ! pg_up; then
  if ! command -v pg_ctlcluster >/dev/null; then
    "$(dirname "$0")/apt_install.sh" postgresql
  fi
  version=$(ls /etc/postgresql | sort -V | tail -n 1)
  pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
  for _ in $(seq 1 30); do pg_up && break; sleep 1; done
  pg_up || { echo "PostgreSQL did not start on 127.0.0.1:5432" >&2; exit 1; }
fi

if ! redis_up; then
  if ! command -v redis-server >/dev/null; then
    "$(dirname "$0")/apt_install.sh" redis-server
  fi
  mkdir -p /var/lib/redis /var/log/redis
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/ci.log
  for _ in $(seq 1 30); do redis_up && break; sleep 0.5; done
  redis_up || { echo "Redis did not start on 127.0.0.1:6379" >&2; exit 1; }
fi

# pgvector (similar photos, near-duplicates): from the distribution's package where it has one,
# else built from the source tree or tarball named by PGVECTOR_SRC (.ci/run names the vendored one).
pgvector_up() {
  psql -h 127.0.0.1 -U postgres -Atqc "SELECT 1 FROM pg_available_extensions WHERE name = 'vector'" \
    2>/dev/null | grep -q 1
}
if ! pgvector_up; then
  major=$(psql -h 127.0.0.1 -U postgres -Atqc "SHOW server_version_num" | cut -c1-2)
  if apt-cache show "postgresql-$major-pgvector" >/dev/null 2>&1; then
    "$(dirname "$0")/apt_install.sh" "postgresql-$major-pgvector"
  elif [[ -n "${PGVECTOR_SRC:-}" && -e "$PGVECTOR_SRC" ]]; then
    echo "Building pgvector for PostgreSQL $major from $PGVECTOR_SRC…"
    command -v make >/dev/null && command -v gcc >/dev/null \
      && [[ -f "/usr/include/postgresql/$major/server/postgres.h" ]] \
      || "$(dirname "$0")/apt_install.sh" "postgresql-server-dev-$major" build-essential
    build=$(mktemp -d)
    if [[ -d "$PGVECTOR_SRC" ]]; then cp -r "$PGVECTOR_SRC"/. "$build"; else tar xzf "$PGVECTOR_SRC" -C "$build" --strip-components=1; fi
    make -s -C "$build" PG_CONFIG="/usr/lib/postgresql/$major/bin/pg_config" >"$build/build.log" 2>&1 \
      && make -s -C "$build" PG_CONFIG="/usr/lib/postgresql/$major/bin/pg_config" install >>"$build/build.log" 2>&1 \
      || { cat "$build/build.log" >&2; echo "pgvector did not build from $PGVECTOR_SRC" >&2; exit 1; }
    rm -rf "$build"
  else
    echo "PostgreSQL $major has no pgvector extension, Debian has no package for it here, and" \
      "PGVECTOR_SRC names no pgvector source (a tarball or a folder). See the README." >&2
    exit 1
  fi
  pgvector_up || { echo "pgvector installed but PostgreSQL does not list it" >&2; exit 1; }
fi
