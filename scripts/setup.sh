#!/usr/bin/env bash
# Installs everything triage and its tests need, on a fresh Debian machine:
# the Debian tools used to build test images and as oracles (Sleuth Kit, mkfs
# tools, ewfacquire, FUSE drivers, Chromium), then a virtualenv in .venv with
# the package and its test extras. Safe to run again: it installs only what is
# missing.
set -euo pipefail
cd "$(dirname "$0")/.."

DEB_PACKAGES=(sleuthkit dosfstools mtools ntfs-3g exfatprogs exfat-fuse ewf-tools
              gdisk fdisk e2fsprogs genisoimage zip chromium libarchive13
              apfsprogs openssl)
missing=()
for pkg in "${DEB_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" \
        || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    echo "setup: installing Debian packages: ${missing[*]}" >&2
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
        "${missing[@]}" >/dev/null
fi

if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
fi
if ! .venv/bin/python -c "import triage, pytest, pytsk3, pyewf, dask" 2>/dev/null \
   || [ pyproject.toml -nt .venv/.installed ]; then
    .venv/bin/python -m pip install -q --upgrade pip
    .venv/bin/python -m pip install -q -e '.[test]'
    touch .venv/.installed
fi
