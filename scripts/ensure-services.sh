#!/usr/bin/env bash
# Make sure the real services the tests need are installed: mosquitto, redis-server,
# Prometheus (and promtool), Alertmanager, Chromium and a CJK font for it, all from Debian.
# Idempotent: does nothing when every binary is present; installs only what is missing with
# apt-get (non-interactively).  The tests start their own instances on free ports; this
# script never starts or touches the machine's own services.
set -euo pipefail

have() { for p in "$@"; do [ -x "$p" ] && return 0; done; return 1; }

missing=()
have /usr/sbin/mosquitto /usr/bin/mosquitto || missing+=(mosquitto)
have /usr/bin/redis-server /usr/sbin/redis-server || missing+=(redis-server)
have /usr/bin/prometheus /usr/bin/promtool || missing+=(prometheus)
have /usr/bin/prometheus-alertmanager || missing+=(prometheus-alertmanager)
have /usr/bin/chromium || missing+=(chromium)
# the wallboard is Chinese by default: Chromium needs a CJK font to draw it
[ -e /usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc ] || missing+=(fonts-noto-cjk)
[ ${#missing[@]} -eq 0 ] && exit 0

echo "ensure-services: missing ${missing[*]}; installing with apt-get" >&2
if ! command -v apt-get >/dev/null 2>&1; then
    echo "ensure-services: ERROR: apt-get not found; install ${missing[*]} manually" >&2
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
# --no-install-recommends keeps Chromium's install small; the packages' own daemons are
# never used (tests start their own on free ports)
if ! "${SUDO[@]}" apt-get install -y --no-install-recommends "${missing[@]}" </dev/null; then
    echo "ensure-services: ERROR: 'apt-get install -y ${missing[*]}' failed" >&2
    exit 1
fi
# Debian starts the packages' own services on install; stop them so they hold no ports
for svc in prometheus prometheus-alertmanager prometheus-node-exporter; do
    "${SUDO[@]}" systemctl stop "$svc" >/dev/null 2>&1 || "${SUDO[@]}" service "$svc" stop >/dev/null 2>&1 || true
done
echo "ensure-services: installed ${missing[*]}" >&2
