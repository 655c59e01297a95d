#!/usr/bin/env bash
# Builds local Debian bookworm base images, for machines where no registry can be reached and so
# debian:bookworm and debian:bookworm-slim cannot be pulled. scripts/compose-smoke.sh uses them.
#
# Usage: scripts/base-image.sh [--rebuild]
#
#   activity-tracker/bookworm:base  debootstrap --variant=minbase bookworm, upgraded from
#                                   bookworm-updates and the security suite; stands for debian:bookworm
#   activity-tracker/bookworm:slim  the same file system without documentation, man pages and
#                                   locales, and with the dpkg path excludes that keep them out
#                                   (as the official -slim images do); stands for debian:bookworm-slim
#
# An image that exists already is kept (the step is cached) unless --rebuild is given.
# Needs root (debootstrap, chroot; sudo is used when not root) and a Docker engine; installs
# debootstrap when it is missing.
#
# Environment:
#   AT_BASE_IMAGE              default activity-tracker/bookworm:base
#   AT_SLIM_IMAGE              default activity-tracker/bookworm:slim
#   AT_DEBIAN_MIRROR           default: the URI apt uses here for bookworm, else http://deb.debian.org/debian
#   AT_DEBIAN_SECURITY_MIRROR  default: the URI apt uses here for bookworm-security, else
#                              http://deb.debian.org/debian-security
#   AT_NO_INSTALL              1 = never install packages
set -euo pipefail

# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
AT_PROG=base-image.sh

BASE_IMAGE=${AT_BASE_IMAGE:-activity-tracker/bookworm:base}
SLIM_IMAGE=${AT_SLIM_IMAGE:-activity-tracker/bookworm:slim}
SUITE=bookworm

REBUILD=0
case ${1:-} in
--rebuild) REBUILD=1 ;;
"") ;;
-h | --help)
    at_print_help
    exit 0
    ;;
*)
    echo "usage: $0 [--rebuild]" >&2
    exit 2
    ;;
esac

image_exists() {
    docker image inspect "$1" >/dev/null 2>&1
}

# apt_uri SUITE: the first URI apt's sources on this machine use for SUITE (deb822 .sources files
# and one-line sources.list files), or nothing.
apt_uri() {
    local suite=$1 f
    for f in /etc/apt/sources.list.d/*.sources; do
        [[ -r $f ]] || continue
        # Paragraphs are separated by blank lines; a paragraph names its URIs and Suites.
        awk -v want="$suite" '
            function flush() {
                if (uris != "" && (" " suites " ") ~ (" " want " ") && types ~ /(^| )deb( |$)/) {
                    split(uris, u, " "); print u[1]; found = 1; exit
                }
                uris = ""; suites = ""; types = "deb"
            }
            BEGIN { types = "deb" }
            /^[[:space:]]*$/ { flush(); next }
            /^#/ { next }
            tolower($1) == "uris:"   { $1 = ""; uris = $0; sub(/^ +/, "", uris) }
            tolower($1) == "suites:" { $1 = ""; suites = $0; sub(/^ +/, "", suites) }
            tolower($1) == "types:"  { $1 = ""; types = $0 }
            END { if (!found) flush() }
        ' "$f" | head -n 1
    done
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
        [[ -r $f ]] || continue
        # deb [options] URI SUITE COMPONENT...
        sed -e 's/#.*//' -e 's/\[[^]]*\]//' "$f" | awk -v want="$suite" '$1 == "deb" && $3 == want { print $2; exit }'
    done
}

ensure_debootstrap() {
    if command -v debootstrap >/dev/null 2>&1 || [[ -x /usr/sbin/debootstrap ]]; then
        return 0
    fi
    [[ ${AT_NO_INSTALL:-0} != 1 ]] || at_die "debootstrap is missing (AT_NO_INSTALL=1)"
    at_info "installing debootstrap"
    export DEBIAN_FRONTEND=noninteractive
    at_root_cmd apt-get update -q
    at_root_cmd apt-get install -y -q --no-install-recommends debootstrap debian-archive-keyring </dev/null
}

if ((REBUILD == 0)) && image_exists "$BASE_IMAGE" && image_exists "$SLIM_IMAGE"; then
    at_info "$BASE_IMAGE and $SLIM_IMAGE exist already (--rebuild to make them again)"
    exit 0
fi

docker info >/dev/null 2>&1 || at_die "no Docker engine answers (docker info failed)"
ensure_debootstrap

MIRROR=${AT_DEBIAN_MIRROR:-$(apt_uri "$SUITE" | head -n 1)}
MIRROR=${MIRROR:-http://deb.debian.org/debian}
SECURITY_MIRROR=${AT_DEBIAN_SECURITY_MIRROR:-$(apt_uri "$SUITE-security" | head -n 1)}
SECURITY_MIRROR=${SECURITY_MIRROR:-http://deb.debian.org/debian-security}

WORK=$(mktemp -d "${TMPDIR:-/tmp}/at-base-image.XXXXXX")
ROOTFS="$WORK/rootfs"
cleanup() {
    at_root_cmd rm -rf "$WORK"
}
trap cleanup EXIT

start=$SECONDS
at_info "debootstrap --variant=minbase $SUITE from $MIRROR (security: $SECURITY_MIRROR)"
if ! at_root_cmd debootstrap --variant=minbase --arch=amd64 "$SUITE" "$ROOTFS" "$MIRROR" >"$WORK/debootstrap.log" 2>&1; then
    at_tail_log "$WORK/debootstrap.log"
    [[ -r $ROOTFS/debootstrap/debootstrap.log ]] && at_tail_log "$ROOTFS/debootstrap/debootstrap.log"
    at_die "debootstrap failed"
fi

# The image's apt sources: the suite, its updates and its security suite, as the official image has.
at_root_cmd rm -f "$ROOTFS/etc/apt/sources.list"
at_root_cmd tee "$ROOTFS/etc/apt/sources.list.d/debian.sources" >/dev/null <<EOF
Types: deb
URIs: $MIRROR
Suites: $SUITE $SUITE-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: $SECURITY_MIRROR
Suites: $SUITE-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
# Container conventions of the official images: no translations, no package caches kept after
# apt runs, and no service started by a package's maintainer scripts.
at_root_cmd tee "$ROOTFS/etc/apt/apt.conf.d/docker-clean" >/dev/null <<'EOF'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
EOF
echo 'Acquire::Languages "none";' | at_root_cmd tee "$ROOTFS/etc/apt/apt.conf.d/docker-no-languages" >/dev/null
printf '#!/bin/sh\nexit 101\n' | at_root_cmd tee "$ROOTFS/usr/sbin/policy-rc.d" >/dev/null
at_root_cmd chmod 755 "$ROOTFS/usr/sbin/policy-rc.d"

at_info "apt-get upgrade inside the new file system (updates and security fixes)"
at_root_cmd cp /etc/resolv.conf "$ROOTFS/etc/resolv.conf"
if ! at_root_cmd chroot "$ROOTFS" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive \
    sh -c 'apt-get update -q && apt-get upgrade -y -q && apt-get clean' >"$WORK/upgrade.log" 2>&1 </dev/null; then
    at_tail_log "$WORK/upgrade.log"
    at_die "apt-get upgrade in the new file system failed"
fi
# Docker provides these files at run time; keep the host's out of the image.
# shellcheck disable=SC2016  # the inner shell expands $1
at_root_cmd sh -c ': >"$1/etc/resolv.conf"; : >"$1/etc/hostname"; rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*.bin "$1"/var/log/apt/* "$1/var/log/dpkg.log" "$1/var/log/bootstrap.log" "$1/var/log/alternatives.log"' _ "$ROOTFS"

IMPORT_CHANGES=(-c 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' -c 'CMD ["bash"]')

# import TAG: the file system as an image.
import() {
    if ! at_root_cmd tar --numeric-owner -C "$ROOTFS" --exclude='./dev/*' --exclude='./proc/*' --exclude='./sys/*' -c . |
        docker import "${IMPORT_CHANGES[@]}" - "$1" >/dev/null; then
        at_die "docker import of $1 failed"
    fi
    at_info "imported $1 ($(docker image inspect -f '{{.Size}}' "$1" | awk '{ printf "%.0f MB", $1 / 1e6 }'))"
}

import "$BASE_IMAGE"

# The slim variant: the official -slim images' dpkg excludes, and the files they exclude removed.
at_root_cmd tee "$ROOTFS/etc/dpkg/dpkg.cfg.d/docker" >/dev/null <<'EOF'
# Like debian:*-slim: no documentation (except copyright notices), man pages or translations.
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/linda/*
path-exclude /usr/share/lintian/overrides/*
path-exclude /usr/share/locale/*
path-exclude /usr/share/man/*
EOF
# shellcheck disable=SC2016  # the inner shell expands $1
at_root_cmd sh -c 'find "$1/usr/share/doc" -mindepth 1 ! -type d ! -name copyright -delete
    find "$1/usr/share/doc" -mindepth 1 -type d -empty -delete
    rm -rf "$1"/usr/share/groff/* "$1"/usr/share/info/* "$1"/usr/share/linda/* \
        "$1"/usr/share/lintian/overrides/* "$1"/usr/share/locale/* "$1"/usr/share/man/*' _ "$ROOTFS"
import "$SLIM_IMAGE"

at_info "done in $((SECONDS - start)) s"
