#!/usr/bin/env bash
# Installs ospfbond from the tarball the Vagrantfile uploaded (made by `npm pack` on the host), as
# README.md's "Install on a real router" does. npm fetches its dependencies from the registry,
# so this must run before isolate.sh cuts the VM off; a tarball already installed is skipped.
# Usage: ospfbond.sh TARBALL
set -euo pipefail
tgz=$1 mark=/var/lib/ospfbond-lab-tarball.sha256

sum=$(sha256sum "$tgz" | cut -d' ' -f1)
if [ "$(cat "$mark" 2>/dev/null)" = "$sum" ]; then
  echo "ospfbond.sh: ospfbond from this tarball is installed"
  exit 0
fi
if ! npm install -g --prefix /usr/local --no-audit --no-fund "$tgz"; then
  echo "ospfbond.sh: npm install failed; a VM of the lab reaches the npm registry only before its first isolate.sh: for a new tarball, vagrant destroy -f hub sitea && vagrant up hub sitea" >&2
  exit 1
fi
echo "$sum" > "$mark"
ospfbond --version
