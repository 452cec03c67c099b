#!/usr/bin/env bash
# Install the browser for the end-to-end widget test (tests/e2e): Debian's Chromium and ChromeDriver.
#
#   sudo bash tools/install_browser.sh        (or as root, e.g. in CI)
#
# Idempotent: does nothing when /usr/bin/chromium is already there. Installs the Debian packages
# `chromium` and `chromium-driver` with apt-get when run as root on a Debian/Ubuntu system;
# otherwise prints what to do and exits 1. The test drives this system browser through
# Playwright's Python client and never downloads a browser of its own (no `playwright install`).
# A different Chromium can be used with COURSE_CHROMIUM=/path/to/chromium.
set -euo pipefail

CHROMIUM="${COURSE_CHROMIUM:-/usr/bin/chromium}"

if [ -x "$CHROMIUM" ]; then
    echo "Browser present: $("$CHROMIUM" --version 2>/dev/null || echo "$CHROMIUM")"
    exit 0
fi

if [ -n "${COURSE_CHROMIUM:-}" ]; then
    echo "COURSE_CHROMIUM=$COURSE_CHROMIUM is not an executable file; point it at a Chromium binary or unset it." >&2
    exit 1
fi

if ! command -v apt-get >/dev/null 2>&1; then
    cat >&2 <<'EOF'
No apt-get here, so the browser cannot be installed automatically.
Install Chromium with your system's package manager and run the test with
    COURSE_CHROMIUM=/path/to/chromium make e2e
Without a browser the end-to-end widget test is skipped.
EOF
    exit 1
fi

if [ "$(id -u)" -ne 0 ]; then
    cat >&2 <<'EOF'
Chromium is not installed and installing it needs root. Run
    sudo apt-get update && sudo apt-get install -y chromium chromium-driver
(or: sudo bash tools/install_browser.sh). Without a browser the end-to-end widget test is skipped.
EOF
    exit 1
fi

echo "Installing Debian's chromium and chromium-driver ..."
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq chromium chromium-driver >/dev/null

if [ ! -x "$CHROMIUM" ]; then
    echo "apt-get finished but $CHROMIUM is missing; check the package installation." >&2
    exit 1
fi
echo "Browser installed: $("$CHROMIUM" --version 2>/dev/null || echo "$CHROMIUM")"
