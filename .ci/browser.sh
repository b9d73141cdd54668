#!/usr/bin/env bash
# Installs (when missing) headless Chromium and its WebDriver for the web dashboard's end-to-end
# tests (crates/web/tests/browser.rs). Idempotent: safe to run again. Needs root or sudo.
set -euo pipefail

if [ "$(id -u)" -eq 0 ]; then root=(); else root=(sudo); fi

if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then
    echo "== installing chromium and chromium-driver (apt)" >&2
    export DEBIAN_FRONTEND=noninteractive
    "${root[@]}" apt-get update -qq >&2
    "${root[@]}" apt-get install -y -qq chromium chromium-driver >&2
fi
chromium --version >&2
chromedriver --version >&2
