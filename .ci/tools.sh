#!/usr/bin/env bash
# Installs (when missing) what the end-to-end tests drive besides PostgreSQL: Debian's Chromium
# and ChromeDriver (the web pages and the HTML report, in a real browser), aiosmtpd (a real SMTP
# server for the notification tests), and a venv with OASIS's stix2-validator and PyMISP (the
# sharing formats, checked by the tools that read them). Idempotent. Prints the venv's python.
set -euo pipefail

if [ "$(id -u)" -eq 0 ]; then root=(); else root=(sudo); fi

missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v chromedriver >/dev/null 2>&1 || missing+=(chromium-driver)
/usr/bin/python3 -c 'import aiosmtpd' >/dev/null 2>&1 || missing+=(python3-aiosmtpd)
/usr/bin/python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || missing+=(python3-venv)
if [ ${#missing[@]} -gt 0 ]; then
    echo "== installing ${missing[*]} (apt)" >&2
    export DEBIAN_FRONTEND=noninteractive
    "${root[@]}" apt-get update -qq >&2
    "${root[@]}" apt-get install -y -qq "${missing[@]}" >&2
fi

venv="${TASKFORCE_VENV:-$HOME/.cache/taskforce-ci-venv}"
if ! "$venv/bin/python" -c 'import stix2validator, pymisp' >/dev/null 2>&1; then
    echo "== creating $venv with stix2-validator and pymisp (pip)" >&2
    python3 -m venv "$venv" >&2
    "$venv/bin/pip" install -q --disable-pip-version-check stix2-validator pymisp >&2
fi
echo "$venv/bin/python"
