#!/usr/bin/env bash
# Sets up what the test suite needs on this machine (Debian 12 or newer), and says where each piece is.
#
#   test/prereqs/install.sh [name...]      # default: all of them; idempotent, about a second when done
#
# names: docker (engine, Compose v2, the local image vtree-test/busybox:latest), registry (an OCI
# registry on 127.0.0.1 holding that image), chromium, zsh, fish, tmux, man, xfs and btrfs (loop-mounted
# copy-on-write filesystems: XFS with reflink=1, btrfs), postgres (the local image vtree-test/postgres:15,
# built from Debian's postgresql-15 with mmdebstrap, no registry), redis (the local image vtree-test/redis:7, from
# Debian's redis-server the same way).
#
# For each name, one line on stdout: `ok <name> <value>` (the image, the registry address, the program,
# the mount point) or `missing <name> <reason>`; progress goes to stderr. Only root installs (apt-get,
# dockerd, loop mounts); any other user gets the lines, and the tests that need what is missing skip,
# saying why (requirePrereq in test/helpers.ts). Exit status: 1 when something is missing and CI=true,
# else 0. Nothing here reads outside the repository; what it installs stays on the machine.
set -uo pipefail

ALL='docker registry chromium zsh fish tmux man xfs btrfs postgres redis'
PG_IMAGE=vtree-test/postgres:15
REDIS_IMAGE=vtree-test/redis:7
IMAGE=vtree-test/busybox:latest
REGISTRY_PORT=${VTREE_TEST_REGISTRY_PORT:-5000}
COW_BASE=/mnt/vtree-cow
export DEBIAN_FRONTEND=noninteractive

log() { printf 'prereqs: %s\n' "$*" >&2; }
is_root() { [ "$(id -u)" = 0 ]; }

# What the prerequisite being checked gives (value) or why it is missing (reason).
value=
reason=

# Fails with "$1, and only root can install it" unless this is root.
need_root() {
  is_root && return 0
  reason="$1, and only root can set it up"
  return 1
}

apt_updated=
# Installs Debian packages, refreshing the package lists once per run.
apt_install() {
  if [ -z "$apt_updated" ]; then
    log "apt-get update"
    apt-get update -qq >/dev/null || return 1
    apt_updated=yes
  fi
  log "apt-get install $*"
  apt-get install -y -qq "$@" >/dev/null
}

# A program from a Debian package: $1 the command, $2 the package.
program() {
  value=$(command -v "$1") && return 0
  need_root "$1 is not installed" || return 1
  apt_install "$2" || { reason="apt-get install $2 failed"; return 1; }
  value=$(command -v "$1") || { reason="$1 is not on PATH after apt-get install $2"; return 1; }
}

docker_ready() { docker info >/dev/null 2>&1 && docker compose version >/dev/null 2>&1; }

# Debian 12 ships Compose v1 only: Debian 13's docker.io and docker-compose (the v2 plugin) install
# cleanly on 12 with a low-priority pin, so nothing else comes from there.
install_docker() {
  if ! grep -qs '^Suites: trixie' /etc/apt/sources.list.d/vtree-trixie.sources && [ "$(. /etc/os-release && echo "$VERSION_CODENAME")" = bookworm ]; then
    printf 'Types: deb\nURIs: http://deb.debian.org/debian\nSuites: trixie\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' >/etc/apt/sources.list.d/vtree-trixie.sources
    printf 'Package: *\nPin: release n=trixie\nPin-Priority: 100\n' >/etc/apt/preferences.d/vtree-trixie
    apt_updated=
  fi
  local target=()
  [ ! -f /etc/apt/sources.list.d/vtree-trixie.sources ] || target=(-t trixie)
  apt_install "${target[@]}" docker.io docker-compose
}

# Starts dockerd: through systemd where it runs, else detached, logging to /var/log/vtree-dockerd.log.
start_dockerd() {
  if [ -d /run/systemd/system ]; then
    systemctl start docker
  else
    (setsid dockerd </dev/null >/var/log/vtree-dockerd.log 2>&1 9>&- &)
  fi
  for _ in $(seq 1 60); do docker info >/dev/null 2>&1 && return 0; sleep 0.5; done
  return 1
}

# The test image: busybox-static's applets in an empty root, imported (no registry needed).
import_image() {
  local root status
  root=$(mktemp -d)
  mkdir -p "$root/bin" "$root/www" "$root/tmp"
  cp "$(command -v busybox)" "$root/bin/busybox"
  for app in $("$root/bin/busybox" --list); do [ "$app" = busybox ] || ln -sf busybox "$root/bin/$app"; done
  echo ok >"$root/www/index.html"
  tar -C "$root" -c . | docker import -c 'ENV PATH=/bin' - "$IMAGE" >/dev/null
  status=$?
  rm -rf "$root"
  return $status
}

# A Docker engine with Compose v2, and the test image.
prereq_docker() {
  if ! docker_ready; then
    need_root 'no Docker engine with Compose v2 answers' || return 1
    if ! command -v dockerd >/dev/null || ! docker compose version >/dev/null 2>&1; then
      install_docker || { reason='apt-get install docker.io docker-compose failed'; return 1; }
    fi
    docker info >/dev/null 2>&1 || start_dockerd || { reason='dockerd did not start (see /var/log/vtree-dockerd.log)'; return 1; }
  fi
  if ! docker image inspect "$IMAGE" >/dev/null 2>&1; then
    if ! command -v busybox >/dev/null; then
      need_root 'busybox is not installed (for the test image)' || return 1
      apt_install busybox-static || { reason='apt-get install busybox-static failed'; return 1; }
    fi
    log "importing $IMAGE"
    import_image || { reason="cannot import $IMAGE"; return 1; }
  fi
  value=$IMAGE
}

# Runs Debian's docker-registry (the reference distribution server) on $1, detached, storing under
# /var/lib/vtree-registry-<port>.
start_registry() {
  local dir=/var/lib/vtree-registry-$REGISTRY_PORT
  mkdir -p "$dir"
  printf 'version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: %s\n  delete:\n    enabled: true\nhttp:\n  addr: %s\n' "$dir" "$1" >"$dir/config.yml"
  log "starting docker-registry on $1"
  (setsid docker-registry serve "$dir/config.yml" </dev/null >"$dir/registry.log" 2>&1 9>&- &)
  for _ in $(seq 1 50); do curl -sf "http://$1/v2/" >/dev/null && return 0; sleep 0.2; done
  return 1
}

# An OCI registry (Debian's docker-registry) on 127.0.0.1, holding the test image.
prereq_registry() {
  local addr=127.0.0.1:$REGISTRY_PORT
  prereq_docker || return 1
  program curl curl || return 1
  if ! curl -sf "http://$addr/v2/" >/dev/null; then
    need_root "no registry answers on $addr" || return 1
    program docker-registry docker-registry || return 1
    start_registry "$addr" || { reason="the registry on $addr did not start (see /var/lib/vtree-registry-$REGISTRY_PORT/registry.log)"; return 1; }
  fi
  if ! curl -sf -o /dev/null -H 'Accept: application/vnd.docker.distribution.manifest.v2+json' "http://$addr/v2/vtree-test/busybox/manifests/latest"; then
    log "pushing $IMAGE to $addr"
    { docker tag "$IMAGE" "$addr/$IMAGE" && docker push -q "$addr/$IMAGE" >/dev/null && docker rmi "$addr/$IMAGE" >/dev/null; } || { reason="cannot push $IMAGE to $addr"; return 1; }
  fi
  value=$addr
}

# A copy-on-write filesystem ($1: xfs or btrfs) on a loop device, mounted at $COW_BASE/$1.
prereq_cow() {
  local fs=$1 dir=$COW_BASE/$1
  if mountpoint -q "$dir" 2>/dev/null && [ "$(stat -f -c %T "$dir")" = "$fs" ]; then
    value=$dir
    return 0
  fi
  need_root "no $fs filesystem is mounted at $dir" || return 1
  [ -e /dev/loop-control ] || { reason="no loop devices on this machine (/dev/loop-control), so no $fs filesystem can be mounted"; return 1; }
  case $fs in
    xfs) program mkfs.xfs xfsprogs || return 1 ;;
    btrfs) program mkfs.btrfs btrfs-progs || return 1 ;;
  esac
  local img=/var/tmp/vtree-cow-$fs.img
  log "mounting $fs at $dir"
  mkdir -p "$dir"
  rm -f "$img"
  truncate -s 3G "$img"
  case $fs in
    xfs) mkfs.xfs -q -m reflink=1 "$img" ;;
    btrfs) mkfs.btrfs -q "$img" >/dev/null ;;
  esac || { reason="mkfs.$fs failed"; return 1; }
  mount -o loop "$img" "$dir" || { reason="cannot mount $fs at $dir (loop devices unavailable?)"; return 1; }
  chmod 1777 "$dir"
  value=$dir
}

# The Postgres entrypoint: initdb an empty PGDATA (trust auth, all addresses), then exec postgres as PID 1
# (STOPSIGNAL SIGINT: a fast, clean shutdown, so a stopped data directory is consistent on disk).
pg_entrypoint() {
  cat <<'SH'
#!/bin/sh
set -eu
BIN=$(echo /usr/lib/postgresql/*/bin)
export PATH="$BIN:$PATH"
PGDATA=${PGDATA:-/var/lib/postgresql/data}
export PGDATA
mkdir -p "$PGDATA" /run/postgresql
chown postgres:postgres "$PGDATA" /run/postgresql
chmod 700 "$PGDATA"
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  setpriv --reuid=postgres --regid=postgres --init-groups initdb -D "$PGDATA" -U postgres -A trust -E UTF8 --locale=C.UTF-8 >/dev/null
  printf "listen_addresses = '*'\n" >> "$PGDATA/postgresql.conf"
  printf "host all all 0.0.0.0/0 trust\nhost all all ::/0 trust\n" >> "$PGDATA/pg_hba.conf"
fi
# a cloned data dir carries its source's postmaster.pid; postgres takes a lock naming its own PID (1) as stale
exec setpriv --reuid=postgres --regid=postgres --init-groups postgres -D "$PGDATA" "$@"
SH
}

# A Postgres 15 image from Debian's packages, without any registry: mmdebstrap | docker import (~50 s, 366 MB).
# pg_amcheck and the other tools are in /usr/lib/postgresql/15/bin inside it.
prereq_postgres() {
  prereq_docker || return 1
  if ! docker image inspect "$PG_IMAGE" >/dev/null 2>&1; then
    need_root "no image $PG_IMAGE" || return 1
    program mmdebstrap mmdebstrap || return 1
    local entry
    entry=$(mktemp)
    pg_entrypoint >"$entry"
    chmod 755 "$entry"
    log "building $PG_IMAGE with mmdebstrap"
    mmdebstrap --quiet --variant=apt --include=postgresql-15 \
      --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-exclude=/usr/share/man/*' \
      --dpkgopt='path-exclude=/usr/share/locale/*' --dpkgopt='path-include=/usr/share/locale/locale.alias' \
      --customize-hook='rm -rf "$1"/var/lib/postgresql/*/main "$1"/etc/postgresql/*/main "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*.bin' \
      --customize-hook="upload $entry /usr/local/bin/entrypoint.sh" \
      --customize-hook='chmod 755 "$1"/usr/local/bin/entrypoint.sh' \
      bookworm - \
      | docker import -c 'ENTRYPOINT ["/usr/local/bin/entrypoint.sh"]' -c 'STOPSIGNAL SIGINT' \
        -c 'ENV PGDATA=/var/lib/postgresql/data' -c 'EXPOSE 5432' -c 'ENV LANG=C.UTF-8' - "$PG_IMAGE" >/dev/null
    local status=$?
    rm -f "$entry"
    [ "$status" = 0 ] || { reason="building $PG_IMAGE with mmdebstrap failed"; return 1; }
  fi
  value=$PG_IMAGE
}

# A Redis 7 image from Debian's packages, built like the Postgres one: redis-server as PID 1, its
# data (append-only file) in /data, flushed on SIGTERM.
prereq_redis() {
  prereq_docker || return 1
  if ! docker image inspect "$REDIS_IMAGE" >/dev/null 2>&1; then
    need_root "no image $REDIS_IMAGE" || return 1
    program mmdebstrap mmdebstrap || return 1
    log "building $REDIS_IMAGE with mmdebstrap"
    mmdebstrap --quiet --variant=apt --include=redis-server \
      --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-exclude=/usr/share/man/*' \
      --customize-hook='rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*.bin' \
      bookworm - \
      | docker import -c 'ENTRYPOINT ["redis-server", "--dir", "/data", "--appendonly", "yes", "--protected-mode", "no", "--bind", "0.0.0.0"]' \
        -c 'EXPOSE 6379' -c 'VOLUME /data' - "$REDIS_IMAGE" >/dev/null \
      || { reason="building $REDIS_IMAGE with mmdebstrap failed"; return 1; }
  fi
  value=$REDIS_IMAGE
}

check() {
  value=
  reason=
  case $1 in
    docker) prereq_docker ;;
    registry) prereq_registry ;;
    chromium) program chromium chromium ;;
    zsh | fish | tmux) program "$1" "$1" ;;
    man) program man man-db ;;
    xfs | btrfs) prereq_cow "$1" ;;
    postgres) prereq_postgres ;;
    redis) prereq_redis ;;
    *) reason="unknown prerequisite (known: $ALL)" && false ;;
  esac
}

# One root at a time installs (tests ask for prerequisites from parallel workers).
if is_root; then
  exec 9>/var/lock/vtree-test-prereqs.lock
  flock 9
fi

missing=0
for name in ${@:-$ALL}; do
  if check "$name"; then
    printf 'ok %s %s\n' "$name" "$value"
  else
    printf 'missing %s %s\n' "$name" "$reason"
    missing=$((missing + 1))
  fi
done
[ "$missing" = 0 ] || [ "${CI:-}" != true ] || { log "$missing missing, and CI=true needs every one"; exit 1; }
exit 0
