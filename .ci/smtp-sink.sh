#!/usr/bin/env bash
# Installs (when missing) Debian's python3-aiosmtpd: the notification tests start a real SMTP
# server on loopback with it (crates/notify/tests/smtp_sink.py). Idempotent. Needs root or sudo.
set -euo pipefail

if [ "$(id -u)" -eq 0 ]; then root=(); else root=(sudo); fi

if ! /usr/bin/python3 -c 'import aiosmtpd' >/dev/null 2>&1; then
    echo "== installing python3-aiosmtpd (apt)" >&2
    export DEBIAN_FRONTEND=noninteractive
    "${root[@]}" apt-get update -qq >&2
    "${root[@]}" apt-get install -y -qq python3-aiosmtpd >&2
fi
/usr/bin/python3 -c 'import aiosmtpd; print("aiosmtpd", aiosmtpd.__version__)' >&2
