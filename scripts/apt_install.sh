#!/usr/bin/env bash
# Installs Debian packages, waiting for another apt or dpkg that holds the locks (a second
# install on the machine, unattended upgrades) instead of failing on the first refusal.
set -euo pipefail
wait=(-o DPkg::Lock::Timeout=600)
# apt-get update takes the lists lock, which the timeout above does not cover on every apt.
for attempt in $(seq 1 60); do
  apt-get "${wait[@]}" update -qq && break
  [[ $attempt == 60 ]] && { echo "apt-get update still failing after 10 minutes" >&2; exit 1; }
  sleep 10
done
DEBIAN_FRONTEND=noninteractive apt-get "${wait[@]}" install -y -qq "$@" >/dev/null
