#!/usr/bin/env bash
# Install what Simpul needs on Debian 12, idempotently: Debian packages, then the virtualenv.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

if [ "$(id -u)" -ne 0 ]; then
  echo "setup installs Debian packages and builds network namespaces: run it as root" >&2
  exit 1
fi

packages=(
  python3 python3-venv python3-pip          # the control plane
  nftables libnftables1 iproute2            # the data plane (libnftables is used in-process)
  dnsmasq-base unbound                      # DHCP and the resolver, run by netd
  openssl                                   # the lab's CA and the portal's certificate
  busybox iperf3 curl iputils-ping procps util-linux  # lab hosts and tests
  chromium wrk                              # the browser tests (Playwright) and benchmarks
  bind9-dnsutils dnsperf                    # DNS tests (dig) and the DNS benchmark
  freeradius                                # the lab's RADIUS server (portal logins by PAP)
  victoria-metrics                          # an InfluxDB v2 write API for the export tests
  snmpd snmp                                # the sites' SNMP agents (net-snmp) and its tools
  poppler-utils                             # pdftoppm: the report tests look at the PDFs
  ansible debootstrap vagrant               # the deployment tests (playbook into a chroot)
  git                                       # and their upgrade test's older release (git archive)
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "installing Debian packages: ${missing[*]}"
  apt-get update -q
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
  # netd runs Unbound itself with a configuration rendered from the node's model; Debian's own
  # unbound service would only hold port 53 on the host.
  # The lab runs its own FreeRADIUS in a namespace; Debian's service is not needed either.
  # Likewise VictoriaMetrics and snmpd: tests and the lab start their own, on their own ports.
  for unit in unbound.service freeradius.service victoria-metrics.service snmpd.service; do
    if command -v systemctl >/dev/null && systemctl is-enabled "$unit" >/dev/null 2>&1; then
      systemctl disable --now "$unit" || true
    fi
  done
fi

if [ ! -x .venv/bin/python ] || ! .venv/bin/python -c 'import sys; assert sys.version_info >= (3, 11)'; then
  rm -rf .venv
  /usr/bin/python3 -m venv .venv
fi
stamp=.venv/.simpul-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  echo "installing Python packages into .venv"
  .venv/bin/pip install -q --upgrade pip
  .venv/bin/pip install -q -e ".[dev]"
  touch "$stamp"
fi
