#!/usr/bin/env bash
# Install Debian's Chromium and its WebDriver, for the replay page's browser tests
# (tests/test_viz_html_browser.py drives them headless through selenium). Does
# nothing if both are already there. The apt lock may be held by another
# install for a while: retry a few times.
set -euo pipefail
if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then
  exit 0
fi
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
export DEBIAN_FRONTEND=noninteractive
for attempt in 1 2 3 4 5; do
  if as_root apt-get update -qq && as_root apt-get install -y -qq chromium chromium-driver; then
    break
  fi
  echo "apt-get failed (attempt $attempt; is the lock held?), retrying in 15 s" >&2
  sleep 15
done
[ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]
