#!/usr/bin/env bash
# The browser tests drive Debian's headless Chromium through its chromedriver (selenium). make test runs this
# first: when either is missing and we are root with apt, install them; otherwise say how, and the tests skip
# (outside CI) or fail (in CI).
set -euo pipefail
if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then
  exit 0
fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "Installing chromium and chromium-driver for the browser tests..."
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq chromium chromium-driver >/dev/null
else
  echo "note: the browser tests need /usr/bin/chromium and /usr/bin/chromedriver: sudo apt-get install chromium chromium-driver" >&2
fi
