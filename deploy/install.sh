#!/usr/bin/env bash
# Install anklume on this host from a repository checkout, and start anklumed.
#
#   sudo deploy/install.sh [--prefix /usr/local] [--no-start] [--no-build]
#                          [--infra FILE] [--root DIR]
#
# Idempotent: run it again to upgrade. It never overwrites /etc/anklume/infra.yml.
#
# Steps: build (npm ci && npm run build), pack the package (npm pack) and
# install the tarball globally (npm install -g <tgz>), create the "anklume"
# group (owner of the control socket), install the systemd unit, create
# /etc/anklume/infra.yml from the example when there is none, validate it,
# then start the daemon: with systemd, systemctl enable --now; without it,
# in the background with a pid file and a log file.
#
# Why pack then install, rather than `npm install -g .`: npm installs a local
# folder as a symlink to it, so the installed daemon would run from this
# checkout (and its dev dependencies, and whatever `git pull` does to it next).
# The tarball is what a registry would serve: the "files" of package.json,
# copied under <prefix>/lib/node_modules/anklume, production dependencies only.
set -euo pipefail

PREFIX=/usr/local
ROOT=/
START=1
BUILD=1
INFRA=
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

usage() {
  cat <<'EOF'
Usage: deploy/install.sh [options]   (as root)

  --prefix DIR   npm global prefix: programs go to DIR/bin (default /usr/local);
                 the systemd unit's ExecStart is rewritten to match
  --no-start     install only; print how to start anklumed
  --no-build     use the dist/ already built (skip npm ci && npm run build)
  --infra FILE   infra.yml to install when /etc/anklume/infra.yml does not exist
                 (default: infra.example.yml of this checkout); never overwrites
  --root DIR     install under DIR instead of / (packaging, tests): no group is
                 created, systemctl is never called, and a started daemon uses
                 DIR/etc/anklume/infra.yml and DIR/run/anklume/anklumed.sock
  -h, --help     this help
EOF
}

say() { printf 'install.sh: %s\n' "$*"; }
die() {
  printf 'install.sh: error: %s\n' "$*" >&2
  exit 1
}

while [ $# -gt 0 ]; do
  case $1 in
    --prefix) [ $# -ge 2 ] || die "--prefix needs a directory"; PREFIX=$2; shift 2 ;;
    --prefix=*) PREFIX=${1#*=}; shift ;;
    --root) [ $# -ge 2 ] || die "--root needs a directory"; ROOT=$2; shift 2 ;;
    --root=*) ROOT=${1#*=}; shift ;;
    --infra) [ $# -ge 2 ] || die "--infra needs a file"; INFRA=$2; shift 2 ;;
    --infra=*) INFRA=${1#*=}; shift ;;
    --no-start) START=0; shift ;;
    --no-build) BUILD=0; shift ;;
    -h | --help) usage; exit 0 ;;
    *) usage >&2; exit 2 ;;
  esac
done

case $PREFIX in /*) ;; *) die "--prefix must be an absolute path (got $PREFIX)" ;; esac
case $ROOT in /*) ;; *) die "--root must be an absolute path (got $ROOT)" ;; esac
ROOT=${ROOT%/}          # "/" becomes "", so "$ROOT/etc" is "/etc"
PREFIX=${PREFIX%/}
[ -z "$ROOT" ] && SYSTEM=1 || SYSTEM=0
if [ "$SYSTEM" = 1 ] && [ "$(id -u)" != 0 ]; then die "run as root (it installs to $PREFIX, /etc and /run)"; fi

ETC=$ROOT/etc/anklume
CONFIG=$ETC/infra.yml
UNIT=$ROOT/etc/systemd/system/anklumed.service
RUN=$ROOT/run/anklume
SOCKET=$RUN/anklumed.sock
PIDFILE=$RUN/anklumed.pid
LOGDIR=$ROOT/var/log/anklume
LOG=$LOGDIR/anklumed.log
BIN=$ROOT$PREFIX/bin
GROUP=anklume

# --- prerequisites ---
command -v node >/dev/null || die "node is not installed (Node 20.19 or later is needed)"
command -v npm >/dev/null || die "npm is not installed"
node -e 'const [a, b] = process.versions.node.split(".").map(Number); process.exit(a > 20 || (a === 20 && b >= 19) ? 0 : 1)' \
  || die "Node $(node --version) is too old: anklume needs 20.19 or later"
grep -qs '"name": "anklume"' "$REPO/package.json" || die "$REPO is not an anklume checkout"
[ -n "$INFRA" ] || INFRA=$REPO/infra.example.yml
[ -f "$INFRA" ] || die "no such file: $INFRA"

# --- build and install the package ---
# A package without sources (this script run from an installed copy) is already built.
[ -d "$REPO/src" ] || BUILD=0
if [ "$BUILD" = 1 ]; then
  say "building in $REPO (npm ci && npm run build)"
  (cd "$REPO" && npm ci --no-audit --no-fund && npm run build)
fi
for bin in anklumectl anklumed; do
  [ -f "$REPO/dist/bin/$bin.js" ] || die "$REPO/dist/bin/$bin.js is missing: build first (npm run build), or drop --no-build"
done

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
say "packing the package"
tgz=$(cd "$REPO" && npm pack --silent --pack-destination "$work" | tail -n 1)
[ -f "$work/$tgz" ] || die "npm pack produced no tarball"
say "installing $tgz to $ROOT$PREFIX (npm install -g)"
npm install --global --prefix "$ROOT$PREFIX" --omit=dev --no-audit --no-fund "$work/$tgz" >/dev/null
if [ ! -x "$BIN/anklumed" ] || [ ! -x "$BIN/anklumectl" ]; then die "npm did not install $BIN/anklumed and $BIN/anklumectl"; fi

# --- the group that may use the control socket ---
if [ "$SYSTEM" = 1 ]; then
  if getent group "$GROUP" >/dev/null; then
    say "group $GROUP exists"
  else
    groupadd --system "$GROUP"
    say "created group $GROUP: its members may run anklumectl status/reconcile (usermod -aG $GROUP <user>)"
  fi
fi
# The daemon chgrps its socket only to a group that exists (--socket-group fails otherwise).
socket_group=()
if getent group "$GROUP" >/dev/null; then socket_group=(--socket-group "$GROUP"); fi

# --- systemd unit, with ExecStart where npm put the program ---
install -d -m 0755 "$(dirname "$UNIT")"
sed "s#^ExecStart=/usr/local/bin/anklumed #ExecStart=$PREFIX/bin/anklumed #" "$REPO/deploy/anklumed.service" >"$work/anklumed.service"
grep -q "^ExecStart=$PREFIX/bin/anklumed " "$work/anklumed.service" || die "could not set ExecStart in the unit"
if [ -f "$UNIT" ] && cmp -s "$work/anklumed.service" "$UNIT"; then
  say "unit $UNIT is up to date"
  unit_changed=0
else
  install -m 0644 "$work/anklumed.service" "$UNIT"
  say "installed unit $UNIT"
  unit_changed=1
fi

# The daemon writes the AI access holder here (the unit's ReadWritePaths= needs it to exist).
install -d -m 0755 "$ROOT/opt/anklume"

# --- the boot firewall: its loader, and its unit (ordered before Incus) ---
FW_LOADER=$ROOT$PREFIX/lib/anklume/anklume-firewall-load
FW_UNIT=$(dirname "$UNIT")/anklume-firewall.service
install -d -m 0755 "$(dirname "$FW_LOADER")"
install -m 0755 "$REPO/deploy/anklume-firewall-load.sh" "$FW_LOADER"
sed "s#^ExecStart=/usr/local/lib/anklume/anklume-firewall-load#ExecStart=$PREFIX/lib/anklume/anklume-firewall-load#" "$REPO/deploy/anklume-firewall.service" >"$work/anklume-firewall.service"
grep -q "^ExecStart=$PREFIX/lib/anklume/anklume-firewall-load$" "$work/anklume-firewall.service" || die "could not set ExecStart in the firewall unit"
install -m 0644 "$work/anklume-firewall.service" "$FW_UNIT"
say "installed $FW_LOADER and $FW_UNIT (loads the isolation table before Incus at boot)"

# --- configuration: created once, never overwritten ---
install -d -m 0755 "$ETC"
if [ -e "$CONFIG" ]; then
  say "kept the existing $CONFIG"
else
  install -m 0644 "$INFRA" "$CONFIG"
  say "created $CONFIG from $INFRA: edit it to describe this host"
fi
if ! "$BIN/anklumectl" validate -f "$CONFIG"; then
  die "$CONFIG is invalid (errors above): fix it, then run this script again; anklumed was not (re)started"
fi

# --- start ---
if [ "$START" = 0 ]; then
  say "not started (--no-start). Start it with: systemctl enable --now anklumed (or $BIN/anklumed --config $CONFIG)"
  exit 0
fi

if [ "$SYSTEM" = 1 ] && [ -d /run/systemd/system ]; then
  systemctl daemon-reload
  # Before Incus at every boot; now too, so the table is there before anklumed's first pass.
  systemctl enable --now anklume-firewall.service
  was_active=0
  systemctl is-active --quiet anklumed.service && was_active=1
  systemctl enable --now anklumed.service
  # enable --now leaves a running daemon alone: restart it so an upgrade (or a new unit) takes effect.
  if [ "$was_active" = 1 ]; then
    systemctl restart anklumed.service
    if [ "$unit_changed" = 1 ]; then say "restarted anklumed: new package and unit"; else say "restarted anklumed: new package"; fi
  fi
  systemctl is-active --quiet anklumed.service || die "anklumed did not start: journalctl -u anklumed"
  say "anklumed is running under systemd: systemctl status anklumed, journalctl -u anklumed -f, anklumectl status"
  exit 0
fi

# No systemd (a container, a test machine): run it in the background ourselves.
# Nothing restarts it on a crash or at boot: say so plainly.
if [ "$SYSTEM" = 1 ]; then
  say "no systemd on this machine (/run/systemd/system is missing): starting anklumed in the background myself"
else
  say "--root $ROOT: systemd is not used; starting anklumed in the background myself"
fi
install -d -m 0750 "$LOGDIR"
install -d -m 0755 "$RUN"

running_pid() {
  local pid
  [ -f "$PIDFILE" ] || return 1
  pid=$(cat "$PIDFILE")
  [ -n "$pid" ] && [ -r "/proc/$pid/cmdline" ] && tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q anklumed || return 1
  printf '%s\n' "$pid"
}

if old=$(running_pid); then
  say "stopping the running anklumed (pid $old) to start the new one"
  kill -TERM "$old"
  for _ in $(seq 1 90); do
    kill -0 "$old" 2>/dev/null || break
    sleep 0.5
  done
  kill -0 "$old" 2>/dev/null && die "anklumed (pid $old) did not stop within 45 s"
fi
rm -f "$PIDFILE"

# setsid: its own session, so it outlives this shell and no terminal hangup
# reaches it (what nohup would do, and more). The umask matches the unit's.
(
  umask 0027
  exec setsid "$BIN/anklumed" --config "$CONFIG" --socket "$SOCKET" "${socket_group[@]}" --log-format json </dev/null >>"$LOG" 2>&1
) &
pid=$!
printf '%s\n' "$pid" >"$PIDFILE"

# Ready when the control socket answers; dead if the process is gone.
for _ in $(seq 1 40); do
  [ -S "$SOCKET" ] && break
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.25
done
if ! kill -0 "$pid" 2>/dev/null; then
  rm -f "$PIDFILE"
  tail -n 20 "$LOG" >&2 || true
  die "anklumed exited at once (last lines of $LOG above)"
fi
[ -S "$SOCKET" ] || say "warning: anklumed (pid $pid) runs but $SOCKET did not appear within 10 s; see $LOG"
say "anklumed started WITHOUT systemd: pid $pid (in $PIDFILE), log $LOG, socket $SOCKET"
say "it will NOT be restarted on a crash or at boot. Stop it with: kill \$(cat $PIDFILE)"
say "check it with: $BIN/anklumectl status --socket $SOCKET"
