#!/usr/bin/env bash
# Debian packages that the test-suite starts for real on loopback (Prometheus, Alertmanager, PostgreSQL,
# Redis), the tools that build and run the operator's image here (podman with runc, buildah, mmdebstrap:
# dev/paramedic_dev/image.py) and the real node's container runtime (containerd, the CNI plugins:
# dev/paramedic_dev/node.py).
# Installs only what is missing, so a warm machine pays nothing.
set -euo pipefail
packages=(prometheus prometheus-alertmanager podman buildah mmdebstrap runc containerd containernetworking-plugins
  postgresql postgresql-client redis-server redis-tools)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
echo "installing Debian packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
# --no-install-recommends: the tests start the binaries themselves; no services are enabled.
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# Debian starts the packaged services; the tests run their own instances on free ports and folders.
for s in prometheus prometheus-alertmanager postgresql redis-server containerd; do
  $sudo systemctl disable --now "$s" >/dev/null 2>&1 || $sudo service "$s" stop >/dev/null 2>&1 || true
done
