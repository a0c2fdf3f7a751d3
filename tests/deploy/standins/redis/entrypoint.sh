#!/bin/sh
# As the official entrypoint: a redis-server started without a config file has protected mode
# off, so that other containers may connect.
set -eu
if [ "${1:-}" = redis-server ]; then
    shift
    exec redis-server --protected-mode no "$@"
fi
exec "$@"
