#!/usr/bin/env bash
# Make sure the real services the tests need (mosquitto, redis-server) are installed.
# Idempotent: does nothing when both binaries are present.  Installs them with apt-get
# (non-interactively) only when one is missing.  The tests start their own instances on
# free ports; this script never starts or touches the machine's own services.
set -euo pipefail

have_mosquitto() { [ -x /usr/sbin/mosquitto ] || command -v mosquitto >/dev/null 2>&1; }
have_redis()     { [ -x /usr/bin/redis-server ] || [ -x /usr/sbin/redis-server ] || command -v redis-server >/dev/null 2>&1; }

if have_mosquitto && have_redis; then
    exit 0
fi

missing=()
have_mosquitto || missing+=(mosquitto)
have_redis || missing+=(redis-server)
echo "ensure-services: missing ${missing[*]}; installing mosquitto redis-server with apt-get" >&2

if ! command -v apt-get >/dev/null 2>&1; then
    echo "ensure-services: ERROR: apt-get not found; install mosquitto and redis-server manually" >&2
    exit 1
fi

SUDO=()
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
        SUDO=(sudo -n)
    else
        echo "ensure-services: ERROR: not root and sudo unavailable; cannot install ${missing[*]}" >&2
        exit 1
    fi
fi

export DEBIAN_FRONTEND=noninteractive
if ! "${SUDO[@]}" apt-get update </dev/null; then
    echo "ensure-services: ERROR: 'apt-get update' failed" >&2
    exit 1
fi
if ! "${SUDO[@]}" apt-get install -y mosquitto redis-server </dev/null; then
    echo "ensure-services: ERROR: 'apt-get install -y mosquitto redis-server' failed" >&2
    exit 1
fi

if ! have_mosquitto || ! have_redis; then
    echo "ensure-services: ERROR: mosquitto/redis-server still missing after apt-get install" >&2
    exit 1
fi
echo "ensure-services: mosquitto and redis-server installed" >&2
