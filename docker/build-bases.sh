#!/usr/bin/env bash
# Builds the two base images docker/Dockerfile can start from when no image registry is
# reachable (docker/README.md): Debian bookworm from the Debian mirrors (debootstrap) plus the
# Node.js of this machine.
#
#   mur-build-base    Debian minbase + python3, make, g++, ca-certificates + node, npm, Node headers
#   mur-runtime-base  Debian minbase + ca-certificates + node (no npm, no headers, no compiler)
#
# Usage: docker/build-bases.sh [--force]   (as root; needs debootstrap and a running dockerd)
# Env:   BUILD_BASE, RUNTIME_BASE (image names), DEBIAN_MIRROR (debootstrap's mirror; default:
#        debootstrap's own), BASES_WORKDIR (scratch folder, default /var/tmp/mur-bases).
set -euo pipefail

BUILD_BASE="${BUILD_BASE:-mur-build-base}"
RUNTIME_BASE="${RUNTIME_BASE:-mur-runtime-base}"
WORK="${BASES_WORKDIR:-/var/tmp/mur-bases}"
SUITE=bookworm
FORCE=0
[ "${1:-}" = "--force" ] && FORCE=1

log() { echo "build-bases: $*" >&2; }
have_image() { docker image inspect "$1" >/dev/null 2>&1; }

NODE_BIN="$(readlink -f "$(command -v node)")"
NODE_PREFIX="$(dirname "$(dirname "$NODE_BIN")")" # /usr or /usr/local
NODE_HEADERS="$NODE_PREFIX/include/node"
NPM_DIR="$NODE_PREFIX/lib/node_modules/npm"
[ -x "$NODE_BIN" ] || { log "no node on PATH"; exit 1; }
[ -f "$NODE_HEADERS/node.h" ] || { log "no Node headers at $NODE_HEADERS"; exit 1; }
[ -f "$NPM_DIR/bin/npm-cli.js" ] || { log "no npm at $NPM_DIR"; exit 1; }
CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt

# Node goes to /usr/local in both images, wherever it lives on this machine.
install_node() { # DIR WITH_NPM
  local dir="$1" with_npm="$2"
  install -D -m 0755 "$NODE_BIN" "$dir/usr/local/bin/node"
  if [ "$with_npm" = 1 ]; then
    mkdir -p "$dir/usr/local/include" "$dir/usr/local/lib/node_modules"
    rm -rf "$dir/usr/local/include/node" "$dir/usr/local/lib/node_modules/npm"
    cp -a "$NODE_HEADERS" "$dir/usr/local/include/node"
    cp -a "$NPM_DIR" "$dir/usr/local/lib/node_modules/npm"
    ln -sf ../lib/node_modules/npm/bin/npm-cli.js "$dir/usr/local/bin/npm"
    ln -sf ../lib/node_modules/npm/bin/npx-cli.js "$dir/usr/local/bin/npx"
    # This machine's CA bundle (it may hold a CA the build's registry traffic needs); the
    # runtime base keeps Debian's own bundle.
    install -D -m 0644 "$CA_BUNDLE" "$dir/etc/ssl/certs/ca-certificates.crt"
  fi
}

slim() { # DIR: drop what a container never reads
  local dir="$1"
  rm -rf "$dir"/var/lib/apt/lists/* "$dir"/var/cache/apt/*.bin "$dir"/var/cache/apt/archives/*.deb \
    "$dir"/usr/share/doc/* "$dir"/usr/share/man/* "$dir"/usr/share/info/* "$dir"/var/log/*.log
  find "$dir/usr/share/locale" -mindepth 1 -maxdepth 1 ! -name 'locale.alias' -exec rm -rf {} + 2>/dev/null || true
}

build_one() { # NAME INCLUDE WITH_NPM
  local name="$1" include="$2" with_npm="$3" dir="$WORK/$1"
  if have_image "$name" && [ "$FORCE" = 0 ]; then
    log "$name exists (pass --force to rebuild)"
    return
  fi
  rm -rf "$dir" && mkdir -p "$dir"
  log "debootstrap $SUITE into $dir (--include=$include)"
  # shellcheck disable=SC2086
  debootstrap --variant=minbase --include="$include" "$SUITE" "$dir" ${DEBIAN_MIRROR:-} >"$WORK/$name.debootstrap.log" 2>&1 ||
    { log "debootstrap failed, see $WORK/$name.debootstrap.log"; tail -20 "$WORK/$name.debootstrap.log" >&2; exit 1; }
  install_node "$dir" "$with_npm"
  slim "$dir"
  log "importing $name"
  tar -C "$dir" -c . | docker import \
    -c 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    -c 'CMD ["/bin/bash"]' - "$name" >/dev/null
  rm -rf "$dir"
  log "$name: $(docker image inspect -f '{{.Size}}' "$name" | awk '{printf "%.0f MB", $1/1e6}')"
}

mkdir -p "$WORK"
build_one "$BUILD_BASE" "python3,make,g++,ca-certificates" 1 &
b=$!
build_one "$RUNTIME_BASE" "ca-certificates" 0 &
r=$!
rc=0
wait $b || rc=1
wait $r || rc=1
exit $rc
