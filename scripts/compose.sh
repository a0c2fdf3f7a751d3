#!/bin/sh
# docker compose, after checking it is 2.24 or newer: the compose files use env_file's
# `required: false`, which older versions reject with an error that does not say why.
# `make up` runs `scripts/compose.sh up -d --build --wait`; any compose command works the same.
set -eu
version=$(docker compose version --short 2>/dev/null) || {
    echo "Docker Compose v2 is not installed (docker compose version failed): Tagloop needs 2.24 or newer." >&2
    exit 1
}
version=${version#v}
major=${version%%.*}
rest=${version#*.}
minor=${rest%%.*}
case "$major$minor" in
    *[!0-9]*|"") echo "Could not read Docker Compose's version from '$version'." >&2; exit 1 ;;
esac
if [ "$major" -lt 2 ] || { [ "$major" -eq 2 ] && [ "$minor" -lt 24 ]; }; then
    echo "Docker Compose $version is too old: Tagloop's compose files need 2.24 or newer." >&2
    exit 1
fi
exec docker compose "$@"
