#!/usr/bin/env bash
# The browser tests drive Debian's Chromium (Playwright never downloads a browser here).
set -euo pipefail
if [[ ! -x /usr/bin/chromium ]]; then
  "$(dirname "$0")/apt_install.sh" chromium
fi
