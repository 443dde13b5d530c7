#!/usr/bin/env bash
# Prepare a Debian 12 host for anklume's e2e tests: Incus 6.0 LTS from
# bookworm-backports, a running incusd (started by hand: CI machines have no
# systemd), a btrfs storage pool and a local Debian 13 container image under
# the alias anklume-test/debian-13 (no image server is reachable from CI; it
# carries ping, nc, nmap and tcpdump for the network tests), plus
# the two images of the systemd host test: anklume-test/debian-13-host and
# anklume-test/debian-13-nested (see their constants below).
#
# Idempotent: every step checks first and does nothing when its result is
# already there, so a second run takes seconds. Must run as root.
#
# Environment:
#   ANKLUME_IMAGE_CACHE   where the built image files are kept
#                         (default /var/cache/anklume-test-image)
#   ANKLUME_DEBIAN_MIRROR Debian mirror for the image (default: debootstrap's
#                         own); the backports source uses the mirror apt
#                         already uses for the release
set -euo pipefail

readonly IMAGE_ALIAS='anklume-test/debian-13'
readonly IMAGE_EXTRA_ALIAS='debian/13'
readonly IMAGE_SUITE='trixie'
# Bump when the image recipe below changes: it names the cache entry, so an
# old cached image is never reused for a new recipe.
readonly IMAGE_RECIPE='v3'
# A second image: a fresh Debian 13 *host* for anklume (systemd, Incus, nft,
# Node and npm, the compilers npm needs for fs-ext), booted as a nested
# system container by test/e2e/systemd-host.test.ts to run deploy/install.sh
# under real systemd. Built on the same debootstrap, then apt in the chroot
# (debootstrap's --include does not resolve a tree as deep as npm's).
# lxcfs: incus.service Requires= its unit (which then skips itself in a container).
readonly HOST_IMAGE_ALIAS='anklume-test/debian-13-host'
readonly HOST_IMAGE_RECIPE='h2'
# The test image for the Incus nested in that host: the same, minus the device
# nodes debootstrap leaves in /dev. An Incus inside an unprivileged container
# cannot mknod them when it unpacks an image (Incus's mknod interception did not
# make them appear), and containers get their /dev from LXC anyway.
readonly NESTED_IMAGE_ALIAS='anklume-test/debian-13-nested'
readonly HOST_IMAGE_PACKAGES='incus lxcfs dnsmasq-base squashfs-tools xz-utils nftables nodejs npm g++ make python3'
readonly CACHE_DIR="${ANKLUME_IMAGE_CACHE:-/var/cache/anklume-test-image}"
readonly MIRROR="${ANKLUME_DEBIAN_MIRROR:-}"
readonly INCUSD='/usr/libexec/incus/incusd'
readonly INCUS_SOCKET='/var/lib/incus/unix.socket'
readonly INCUSD_LOG='/var/log/incus/incusd.log'
readonly POOL='default'
readonly POOL_SIZE='8GiB'

step() { printf '==> [%4ss] %s\n' "$SECONDS" "$*"; }
note() { printf '    %s\n' "$*"; }
die() { printf 'incus-setup: %s\n' "$*" >&2; exit 1; }

[[ $(id -u) -eq 0 ]] || die "must run as root"
[[ -r /etc/os-release ]] || die "/etc/os-release missing: not a Debian host?"
# shellcheck source=/dev/null
. /etc/os-release
[[ ${ID:-} == debian ]] || die "this script targets Debian (found ID=${ID:-unknown})"
readonly CODENAME="${VERSION_CODENAME:?VERSION_CODENAME missing in /etc/os-release}"
readonly BACKPORTS="${CODENAME}-backports"

export DEBIAN_FRONTEND=noninteractive
export PATH="/usr/libexec/incus:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
# Every incus command here is for the host's daemon: a caller's INCUS_DIR or
# remote (a cluster member's, say) must not redirect them.
unset INCUS_DIR INCUS_REMOTE
export INCUS_SOCKET

# Two concurrent runs (a developer and CI on the same machine) would race on
# apt, on starting incusd and on the image import.
exec 9>/run/anklume-incus-setup.lock
flock 9

# ---------------------------------------------------------------- packages --

is_installed() {
  dpkg-query -W -f='${db:Status-Abbrev}' "$1" 2>/dev/null | grep -q '^ii'
}

# The first URI of an enabled apt source (one-line or deb822) for the release itself.
release_mirror() {
  local f
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [[ -r $f ]] || continue
    awk -v suite="$CODENAME" '$1 == "deb" { for (i = 2; i < NF; i++) if ($i !~ /^\[/ && $(i + 1) == suite) { print $i; exit } }' "$f"
  done | head -n1 | grep . && return 0
  for f in /etc/apt/sources.list.d/*.sources; do
    [[ -r $f ]] || continue
    awk -v suite="$CODENAME" '
      /^[[:space:]]*$/ { if (uri != "" && hit && enabled) { print uri; exit } uri = ""; hit = 0; enabled = 1; next }
      /^URIs:/ { uri = $2 }
      /^Suites:/ { for (i = 2; i <= NF; i++) if ($i == suite) hit = 1 }
      /^Enabled:[[:space:]]*no/ { enabled = 0 }
      BEGIN { enabled = 1 }
      END { if (uri != "" && hit && enabled) print uri }' "$f"
  done | head -n1 | grep .
}

ensure_backports_source() {
  # Any enabled line or deb822 stanza naming the suite is enough.
  if grep -Eqs "^[^#]*[[:space:]]${BACKPORTS}([[:space:]]|$)" \
      /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; then
    return
  fi
  # The mirror this host already gets the release from: no mirror is named here.
  local uri
  uri=$(release_mirror) || die "no apt source for ${CODENAME} found to add ${BACKPORTS} beside; add ${BACKPORTS} to apt's sources"
  step "adding ${BACKPORTS} to apt sources (${uri})"
  cat >"/etc/apt/sources.list.d/${BACKPORTS}.sources" <<EOF
Types: deb
URIs: ${uri}
Suites: ${BACKPORTS}
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
}

ensure_packages() {
  # dnsmasq-base is only a Recommends of incus-base but bridges need it for
  # DHCP/DNS; we install without Recommends because qemu's pull in a desktop.
  local wanted=(nftables btrfs-progs debootstrap squashfs-tools xz-utils lxcfs
    dnsmasq-base uidmap iproute2 ca-certificates debian-archive-keyring)
  local missing=() p
  for p in "${wanted[@]}"; do is_installed "$p" || missing+=("$p"); done
  local need_incus=false
  [[ -x $INCUSD ]] || need_incus=true

  if [[ $need_incus == false && ${#missing[@]} -eq 0 ]]; then
    step "packages already installed ($(dpkg-query -W -f='${Version}' incus-base 2>/dev/null || echo '?'))"
    return
  fi
  ensure_backports_source
  step "apt-get update"
  apt-get update -qq
  if [[ ${#missing[@]} -gt 0 ]]; then
    step "installing ${missing[*]}"
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
  if [[ $need_incus == true ]]; then
    step "installing incus from ${BACKPORTS}"
    apt-get install -y -qq --no-install-recommends -t "$BACKPORTS" incus >/dev/null
  fi
  [[ -x $INCUSD ]] || die "$INCUSD still missing after installing incus"
  note "incus $(dpkg-query -W -f='${Version}' incus-base)"
}

# ------------------------------------------------------------------ daemon --

ensure_lxcfs() {
  # incus.service Requires=lxcfs.service, and incusd only uses lxcfs (container
  # /proc/meminfo, uptime, ...) when it is mounted before incusd starts.
  command -v lxcfs >/dev/null || return 0
  if mountpoint -q /var/lib/lxcfs 2>/dev/null; then return; fi
  # A killed lxcfs (CI ends every process between runs) leaves its FUSE mount
  # behind: any access then fails with "Transport endpoint is not connected".
  if grep -qs ' /var/lib/lxcfs ' /proc/mounts; then
    step "clearing the stale lxcfs mount left by a previous run"
    umount -l /var/lib/lxcfs 2>/dev/null || fusermount -uz /var/lib/lxcfs 2>/dev/null ||
      { note "could not unmount the stale /var/lib/lxcfs (continuing without lxcfs)"; return 0; }
  fi
  if [[ ! -c /dev/fuse ]]; then
    note "no /dev/fuse: running without lxcfs"
    return
  fi
  step "starting lxcfs"
  mkdir -p /var/lib/lxcfs /var/log/incus
  # 9>&-: a daemon must not inherit the lock, or it holds it forever.
  setsid -f lxcfs /var/lib/lxcfs </dev/null >>/var/log/incus/lxcfs.log 2>&1 9>&-
  for _ in $(seq 1 50); do
    mountpoint -q /var/lib/lxcfs && return
    sleep 0.1
  done
  note "lxcfs did not mount /var/lib/lxcfs; see /var/log/incus/lxcfs.log (continuing without)"
}

incusd_running() {
  # The host's daemon answers on its own socket. A process match would also
  # see the incusd of cluster members run by the tests in network namespaces
  # (their own INCUS_DIR, their own socket) and then never start the host's.
  # A socket file left by a dead daemon refuses the connection: not running.
  timeout 10 incus query local:/1.0 >/dev/null 2>&1
}

# Incus's production settings: every bridge's dnsmasq and every container's
# systemd take inotify instances, and the kernel default of 128 per user runs
# out after a few domains ("dnsmasq: failed to create inotify: Too many open files").
ensure_sysctls() {
  local key want have
  for pair in fs.inotify.max_user_instances=1024 fs.inotify.max_user_watches=1048576 fs.inotify.max_queued_events=1048576; do
    key=${pair%%=*}
    want=${pair#*=}
    have=$(sysctl -n "$key" 2>/dev/null || echo 0)
    if (( have < want )); then
      step "sysctl $key=$want (was $have)"
      sysctl -qw "$key=$want" || note "could not raise $key"
    fi
  done
}

ensure_incusd() {
  ensure_sysctls
  getent group incus-admin >/dev/null || groupadd --system incus-admin
  if incusd_running; then
    step "incusd already running"
  else
    ensure_lxcfs
    step "starting incusd"
    mkdir -p "$(dirname "$INCUSD_LOG")"
    chown root:incus-admin "$(dirname "$INCUSD_LOG")"
    # What incus.service does, minus systemd: environment from
    # /etc/default/incus (it sets PATH so incusd finds its helpers) and
    # /etc/environment, LimitNOFILE=1048576, then `incusd --group incus-admin`.
    # The unit's AppArmor step is skipped: no AppArmor on these hosts.
    (
      set -a
      # shellcheck source=/dev/null
      [[ -r /etc/environment ]] && . /etc/environment
      # shellcheck source=/dev/null
      [[ -r /etc/default/incus ]] && . /etc/default/incus
      set +a
      ulimit -n 1048576 2>/dev/null || true
      ulimit -u unlimited 2>/dev/null || true
      cd /
      exec setsid -f nohup "$INCUSD" --group incus-admin </dev/null >>"$INCUSD_LOG" 2>&1 9>&-
    )
  fi
  step "waiting for incusd"
  if ! incus admin waitready --timeout=60 >/dev/null; then
    tail -n 30 "$INCUSD_LOG" >&2 || true
    die "incusd did not become ready; log: $INCUSD_LOG"
  fi
}

# ----------------------------------------------------------------- storage --

pool_names() { incus storage list --format csv | cut -d, -f1; }

ensure_storage() {
  if [[ -z $(pool_names) ]]; then
    step "creating btrfs storage pool '$POOL' ($POOL_SIZE loop file)"
    incus storage create "$POOL" btrfs "size=$POOL_SIZE"
  else
    step "storage pool present: $(pool_names | paste -sd, -)"
  fi
  # Instances need a root disk; tests rely on the default profile of the
  # default project for it. No NIC here: tests create their own bridges.
  if ! incus profile device show default | grep -q '^root:'; then
    local pool="$POOL"
    incus storage show "$pool" >/dev/null 2>&1 ||
      pool=$(pool_names | head -n1)
    step "adding root disk on pool '$pool' to the default profile"
    incus profile device add default root disk path=/ "pool=$pool"
  fi
}

# ------------------------------------------------------------------- image --

image_dir() { printf '%s/debian-13-%s-%s' "$CACHE_DIR" "$(dpkg --print-architecture)" "$IMAGE_RECIPE"; }

# Write the rootfs configuration that makes a debootstrapped tree a usable
# container: DHCP on eth0 via networkd, DNS via resolved, a machine-id made
# on first boot, and no leftovers from the build host.
configure_rootfs() {
  local root=$1

  # Trap: mktemp -d makes the tree's top folder 0700; inside an unprivileged
  # container every service not running as root then fails to reach /.
  chmod 0755 "$root"

  mkdir -p "$root/etc/systemd/network"
  cat >"$root/etc/systemd/network/eth0.network" <<'EOF'
# Written by anklume's incus-setup.sh: Incus bridges hand out the pinned
# address (nic ipv4.address) through DHCP.
[Match]
Name=eth0

[Network]
DHCP=ipv4
IPv6AcceptRA=yes

[DHCPv4]
UseDomains=yes
EOF
  chroot "$root" systemctl enable systemd-networkd.service >/dev/null 2>&1
  if [[ -e $root/usr/lib/systemd/systemd-resolved ]]; then
    chroot "$root" systemctl enable systemd-resolved.service >/dev/null 2>&1
    ln -sf ../run/systemd/resolve/stub-resolv.conf "$root/etc/resolv.conf"
  else
    rm -f "$root/etc/resolv.conf"
  fi

  # An empty machine-id means "generate on first boot": every container gets
  # its own, which DHCP client identifiers and journald depend on.
  : >"$root/etc/machine-id"
  rm -f "$root/var/lib/dbus/machine-id"
  # The hostname is written per instance by the image templates below.
  echo localhost >"$root/etc/hostname"

  chroot "$root" apt-get clean
  rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin \
    "$root"/var/log/*.log "$root"/var/log/apt/* "$root"/tmp/* "$root"/var/tmp/*
}

write_metadata() {
  local dir=$1 description=$2 recipe=$3
  mkdir -p "$dir/templates"
  cat >"$dir/metadata.yaml" <<EOF
architecture: $(uname -m)
creation_date: $(date +%s)
properties:
  os: debian
  release: ${IMAGE_SUITE}
  variant: minbase
  anklume.recipe: ${recipe}
  architecture: $(dpkg --print-architecture)
  description: "${description}"
templates:
  /etc/hostname:
    when: [create, copy, rename]
    template: hostname.tpl
  /etc/hosts:
    when: [create, copy, rename]
    template: hosts.tpl
EOF
  printf '{{ instance.name }}\n' >"$dir/templates/hostname.tpl"
  cat >"$dir/templates/hosts.tpl" <<'EOF'
127.0.0.1	localhost
127.0.1.1	{{ instance.name }}
::1	localhost ip6-localhost ip6-loopback
ff02::1	ip6-allnodes
ff02::2	ip6-allrouters
EOF
}

build_image() {
  local out work root
  out=$(image_dir)
  if [[ -s $out/metadata.tar.xz && -s $out/rootfs.squashfs ]]; then
    step "image files cached in $out"
    return
  fi
  mkdir -p "$CACHE_DIR/debs"
  # Entries of older recipes are dead weight (~60 MB each).
  find "$CACHE_DIR" -mindepth 1 -maxdepth 1 -name 'debian-13-*' ! -name 'debian-13-host-*' ! -path "$out" -exec rm -rf {} +
  work=$(mktemp -d /var/tmp/anklume-image.XXXXXX)
  # shellcheck disable=SC2064 # expand now: $work is local
  trap "rm -rf '$work'" EXIT
  root="$work/rootfs"
  mkdir -p "$root"

  step "debootstrap ${IMAGE_SUITE} (minbase + systemd)${MIRROR:+ from $MIRROR}"
  # dbus and udev are not optional: systemd-networkd needs both to bring eth0
  # up and take its DHCP lease.
  local include=systemd,systemd-sysv,systemd-resolved,dbus,udev,iproute2,ca-certificates
  # Tools the network e2e tests use inside instances.
  include+=,iputils-ping,netcat-openbsd,procps
  # What the network inspection tests run from inside a domain (issue 17) and
  # the assistants' scan skill uses.
  include+=,nmap,tcpdump
  debootstrap_rootfs "$root" "$include" "$work/debootstrap.log"

  step "configuring rootfs"
  configure_rootfs "$root"

  pack_image "$work" "$root" "$out" xz \
    "Debian 13 (${IMAGE_SUITE}) minbase with systemd-networkd (anklume test image ${IMAGE_RECIPE})" "$IMAGE_RECIPE"
}

debootstrap_rootfs() {
  local root=$1 include=$2 log=$3
  debootstrap --variant=minbase --include="$include" --cache-dir="$CACHE_DIR/debs" \
    "$IMAGE_SUITE" "$root" ${MIRROR:+"$MIRROR"} >"$log" 2>&1 || {
    tail -n 40 "$log" >&2
    die "debootstrap failed"
  }
  # Debian may move networkd into its own package; install it if so.
  if [[ ! -x $root/usr/lib/systemd/systemd-networkd ]]; then
    step "installing systemd-networkd package in the rootfs"
    chroot "$root" apt-get update -qq
    chroot "$root" apt-get install -y -qq --no-install-recommends systemd-networkd >/dev/null
  fi
}

# Pack a configured rootfs as an Incus image (metadata tarball + squashfs) into $out.
pack_image() {
  local work=$1 root=$2 out=$3 comp=$4 description=$5 recipe=$6
  local options=(-comp "$comp")
  [[ $comp == zstd ]] && options+=(-Xcompression-level 3)
  step "packing image (metadata tarball + squashfs rootfs, $comp)"
  write_metadata "$work/meta" "$description" "$recipe"
  tar -C "$work/meta" -cJf "$work/metadata.tar.xz" metadata.yaml templates
  # POSIX ACLs (journald's, restored by tmpfiles at boot) are the only xattrs
  # squashfs can't store; silence its per-file warning about them.
  mksquashfs "$root" "$work/rootfs.squashfs" -noappend "${options[@]}" -quiet -no-progress 2>&1 |
    { grep -v 'Unrecognised xattr prefix system.posix_acl' || true; }
  mkdir -p "$out"
  # The metadata file goes last and marks the entry complete: a run
  # interrupted before it leaves an entry the cache check rejects.
  rm -f "$out/metadata.tar.xz"
  mv "$work/rootfs.squashfs" "$out/rootfs.squashfs"
  mv "$work/metadata.tar.xz" "$out/metadata.tar.xz"
  rm -rf "$work"
  trap - EXIT
  note "rootfs.squashfs $(du -h "$out/rootfs.squashfs" | cut -f1)"
}

host_image_dir() { printf '%s/debian-13-host-%s-%s' "$CACHE_DIR" "$(dpkg --print-architecture)" "$HOST_IMAGE_RECIPE"; }

build_host_image() {
  local out work root
  out=$(host_image_dir)
  if [[ -s $out/metadata.tar.xz && -s $out/rootfs.squashfs ]]; then
    step "host image files cached in $out"
    return
  fi
  mkdir -p "$CACHE_DIR/debs" "$CACHE_DIR/host-debs"
  find "$CACHE_DIR" -mindepth 1 -maxdepth 1 -name 'debian-13-host-*' ! -path "$out" -exec rm -rf {} +
  work=$(mktemp -d /var/tmp/anklume-host-image.XXXXXX)
  root="$work/rootfs"
  # shellcheck disable=SC2064 # expand now: $work and $root are local
  trap "umount -q '$root/proc' '$root/var/cache/apt/archives' 2>/dev/null; rm -rf '$work'" EXIT
  mkdir -p "$root"

  step "debootstrap ${IMAGE_SUITE} for the host image"
  debootstrap_rootfs "$root" systemd,systemd-sysv,systemd-resolved,dbus,udev,iproute2,ca-certificates,procps "$work/debootstrap.log"

  step "installing ${HOST_IMAGE_PACKAGES} in the host image"
  # Services must not start in the chroot; the debs are kept between builds.
  printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"
  chmod 0755 "$root/usr/sbin/policy-rc.d"
  rm -f "$root/etc/resolv.conf"
  cp /etc/resolv.conf "$root/etc/resolv.conf"
  mount -t proc proc "$root/proc"
  mount --bind "$CACHE_DIR/host-debs" "$root/var/cache/apt/archives"
  # shellcheck disable=SC2086 # a list of package names
  if ! { chroot "$root" apt-get update -qq &&
    chroot "$root" apt-get install -y -qq --no-install-recommends $HOST_IMAGE_PACKAGES; } >"$work/apt.log" 2>&1; then
    tail -n 40 "$work/apt.log" >&2
    die "installing the host image's packages failed"
  fi
  umount "$root/var/cache/apt/archives" "$root/proc"
  rm -f "$root/usr/sbin/policy-rc.d"

  step "configuring the host image's rootfs"
  configure_rootfs "$root"

  # zstd at level 3: this rootfs is large (compilers, Node, Incus); xz takes minutes on two cores.
  pack_image "$work" "$root" "$out" zstd \
    "Debian 13 (${IMAGE_SUITE}) host for anklume: systemd, Incus, nftables, Node, npm, g++ (anklume test image ${HOST_IMAGE_RECIPE})" "$HOST_IMAGE_RECIPE"
}

alias_fingerprint() {
  incus image alias list --format csv 2>/dev/null | awk -F, -v a="$1" '$1 == a { print $2 }'
}

ensure_image() {
  local fp
  fp=$(alias_fingerprint "$IMAGE_ALIAS")
  if [[ -n $fp ]]; then
    local recipe
    recipe=$(incus image get-property "$fp" anklume.recipe 2>/dev/null || true)
    if [[ $recipe != "$IMAGE_RECIPE" ]]; then
      step "removing image $fp built from recipe '${recipe:-none}' (want $IMAGE_RECIPE)"
      incus image delete "$fp"
      fp=''
    fi
  fi
  if [[ -n $fp ]]; then
    step "image $IMAGE_ALIAS already imported ($fp)"
  else
    build_image
    local out
    out=$(image_dir)
    step "importing image as $IMAGE_ALIAS"
    incus image import "$out/metadata.tar.xz" "$out/rootfs.squashfs" --alias "$IMAGE_ALIAS"
    fp=$(alias_fingerprint "$IMAGE_ALIAS")
  fi
  if [[ -z $(alias_fingerprint "$IMAGE_EXTRA_ALIAS") ]]; then
    incus image alias create "$IMAGE_EXTRA_ALIAS" "$fp"
  fi
}

ensure_host_image() {
  local fp recipe out
  fp=$(alias_fingerprint "$HOST_IMAGE_ALIAS")
  if [[ -n $fp ]]; then
    recipe=$(incus image get-property "$fp" anklume.recipe 2>/dev/null || true)
    if [[ $recipe == "$HOST_IMAGE_RECIPE" ]]; then
      step "image $HOST_IMAGE_ALIAS already imported ($fp)"
      return
    fi
    step "removing image $fp built from recipe '${recipe:-none}' (want $HOST_IMAGE_RECIPE)"
    incus image delete "$fp"
  fi
  build_host_image
  out=$(host_image_dir)
  step "importing image as $HOST_IMAGE_ALIAS"
  incus image import "$out/metadata.tar.xz" "$out/rootfs.squashfs" --alias "$HOST_IMAGE_ALIAS"
}

ensure_nested_image() {
  local fp recipe work
  fp=$(alias_fingerprint "$NESTED_IMAGE_ALIAS")
  if [[ -n $fp ]]; then
    recipe=$(incus image get-property "$fp" anklume.recipe 2>/dev/null || true)
    if [[ $recipe == "$IMAGE_RECIPE" ]]; then
      step "image $NESTED_IMAGE_ALIAS already imported ($fp)"
      return
    fi
    step "removing image $fp made from test image recipe '${recipe:-none}' (want $IMAGE_RECIPE)"
    incus image delete "$fp"
  fi
  step "deriving $NESTED_IMAGE_ALIAS from $IMAGE_ALIAS (no device nodes in /dev)"
  work=$(mktemp -d /var/tmp/anklume-nested-image.XXXXXX)
  # shellcheck disable=SC2064 # expand now: $work is local
  trap "rm -rf '$work'" EXIT
  incus image export "$IMAGE_ALIAS" "$work/image" >/dev/null
  [[ -s $work/image && -s $work/image.root ]] || die "incus image export $IMAGE_ALIAS did not give a split image"
  unsquashfs -q -n -d "$work/rootfs" "$work/image.root" >/dev/null
  find "$work/rootfs/dev" -mindepth 1 -delete
  mksquashfs "$work/rootfs" "$work/rootfs.squashfs" -noappend -comp zstd -Xcompression-level 3 -quiet -no-progress 2>&1 |
    { grep -v 'Unrecognised xattr prefix system.posix_acl' || true; }
  incus image import "$work/image" "$work/rootfs.squashfs" --alias "$NESTED_IMAGE_ALIAS"
  rm -rf "$work"
  trap - EXIT
}

# -------------------------------------------------------------------- main --

ensure_packages
ensure_incusd
ensure_storage
ensure_image
ensure_host_image
ensure_nested_image
step "ready: Incus $(incus query /1.0 | sed -n 's/.*"server_version": *"\([^"]*\)".*/\1/p') on $INCUS_SOCKET"
echo "$INCUS_SOCKET"
