#!/usr/bin/env bash
# Makes (when missing) a venv with OASIS's stix2-validator and PyMISP, the tools that read the
# hunt's STIX and MISP output, for its end-to-end tests; prints the venv's python. Idempotent.
# (Chromium: .ci/browser.sh; the SMTP server: .ci/smtp-sink.sh.)
set -euo pipefail

venv="${TASKFORCE_VENV:-$HOME/.cache/taskforce-ci-venv}"
if ! "$venv/bin/python" -c 'import stix2validator, pymisp' >/dev/null 2>&1; then
    echo "== creating $venv with stix2-validator and pymisp (pip)" >&2
    python3 -m venv "$venv" >&2
    "$venv/bin/pip" install -q --disable-pip-version-check stix2-validator pymisp >&2
fi
echo "$venv/bin/python"
