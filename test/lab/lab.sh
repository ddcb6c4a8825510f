#!/usr/bin/env bash
# berth test lab: a real Docker engine and a real InfluxDB 1.x on this machine.
#
#   lab.sh install        apt-get install what the lab needs (only what is missing)
#   lab.sh start          start the lab dockerd on unix:///run/berth-lab/docker.sock
#   lab.sh stop           stop it
#   lab.sh status         show what runs
#   lab.sh influx-start   start InfluxDB (1.6, Debian) on 0.0.0.0:8086
#   lab.sh influx-stop    stop it
#   lab.sh vm-image       build the qemu e2e's Debian VM image (test/lab/vm-image.sh, cached)
#
# Idempotent: every subcommand may be run again. Needs root.
set -euo pipefail

LAB_RUN=/run/berth-lab
LAB_LIB=/var/lib/berth-lab
DOCKER_SOCK="$LAB_RUN/docker.sock"
DOCKER_HOST_URL="unix://$DOCKER_SOCK"
DOCKERD_PID="$LAB_RUN/dockerd.pid"
DOCKERD_LOG=/var/log/berth-lab-dockerd.log
INFLUX_DIR="$LAB_LIB/influx"
INFLUX_CONF="$INFLUX_DIR/influxdb.conf"
INFLUX_PID="$LAB_RUN/influxd.pid"
INFLUX_LOG=/var/log/berth-lab-influxd.log
INFLUX_PORT="${BERTH_LAB_INFLUX_PORT:-8086}"

PACKAGES=(
  ca-certificates iptables docker.io debootstrap influxdb influxdb-client
  genisoimage openssh-client iproute2 busybox-static rsync sshfs curl xz-utils qemu-utils
  qemu-system-x86 fdisk
)

log() { printf 'lab: %s\n' "$*" >&2; }
die() { printf 'lab: error: %s\n' "$*" >&2; exit 1; }

need_root() { [[ $(id -u) -eq 0 ]] || die "must run as root"; }

# pid_alive PIDFILE -> 0 if the pid in PIDFILE is a live process
pid_alive() {
  local pid
  [[ -s "$1" ]] || return 1
  pid=$(<"$1")
  [[ "$pid" =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null
}

# stop_pidfile NAME PIDFILE: TERM, wait up to 30 s, then KILL
stop_pidfile() {
  local name=$1 pidfile=$2 pid i
  if ! pid_alive "$pidfile"; then
    log "$name is not running"
    rm -f "$pidfile"
    return 0
  fi
  pid=$(<"$pidfile")
  log "stopping $name (pid $pid)"
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < 300; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    log "$name did not stop in 30 s, killing"
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$pidfile"
}

cmd_install() {
  need_root
  local missing=() p
  for p in "${PACKAGES[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
      missing+=("$p")
    fi
  done
  if ((${#missing[@]} == 0)); then
    log "all packages present"
    return 0
  fi
  log "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends \
    -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
    "${missing[@]}" >/dev/null
  log "installed"
}

docker_answers() {
  timeout 5 docker -H "$DOCKER_HOST_URL" version >/dev/null 2>&1
}

link_default_socket() {
  # Make a plain `docker` (default unix:///var/run/docker.sock) reach the lab engine.
  if [[ ! -e /var/run/docker.sock && ! -L /var/run/docker.sock ]]; then
    mkdir -p /var/run
    ln -s "$DOCKER_SOCK" /var/run/docker.sock
    log "linked /var/run/docker.sock -> $DOCKER_SOCK"
  fi
}

raise_inotify_limits() {
  # Every system container's systemd (and the engine nested in it) takes inotify instances; at
  # the kernel's default of 128 per user, a few dozen machines make new ones exit at once with
  # "Failed to allocate manager object: Too many open files".
  local key want
  for key in max_user_instances:8192 max_user_watches:524288; do
    want=${key#*:}
    key=/proc/sys/fs/inotify/${key%%:*}
    if [[ -w $key ]] && (($(<"$key") < want)); then
      echo "$want" >"$key" && log "raised ${key#/proc/sys/} to $want"
    fi
  done
}

cmd_start() {
  need_root
  command -v dockerd >/dev/null || die "dockerd missing: run '$0 install' first"
  raise_inotify_limits
  mkdir -p "$LAB_RUN" "$LAB_RUN/exec" "$LAB_LIB/docker"
  if pid_alive "$DOCKERD_PID" && docker_answers; then
    log "dockerd already running (pid $(<"$DOCKERD_PID"))"
  else
    if pid_alive "$DOCKERD_PID"; then
      log "dockerd pid $(<"$DOCKERD_PID") alive but not answering; waiting for it"
    else
      rm -f "$DOCKERD_PID"
      log "starting dockerd (log $DOCKERD_LOG)"
      setsid nohup dockerd \
        --host "$DOCKER_HOST_URL" \
        --data-root "$LAB_LIB/docker" \
        --exec-root "$LAB_RUN/exec" \
        --pidfile "$DOCKERD_PID" \
        </dev/null >>"$DOCKERD_LOG" 2>&1 &
      disown || true
    fi
    local deadline=$((SECONDS + 60))
    until docker_answers; do
      if ((SECONDS >= deadline)); then
        printf 'lab: error: dockerd did not answer on %s within 60 s; last log lines:\n' \
          "$DOCKER_HOST_URL" >&2
        tail -n 30 "$DOCKERD_LOG" >&2 || true
        exit 1
      fi
      sleep 0.5
    done
    log "dockerd ready ($(docker -H "$DOCKER_HOST_URL" version -f '{{.Server.Version}}' 2>/dev/null))"
  fi
  link_default_socket
  printf 'export DOCKER_HOST=%s\n' "$DOCKER_HOST_URL" >&2
}

cmd_stop() {
  need_root
  stop_pidfile dockerd "$DOCKERD_PID"
  # Drop our default-socket link if it points at the lab socket.
  if [[ -L /var/run/docker.sock && $(readlink /var/run/docker.sock) == "$DOCKER_SOCK" ]]; then
    rm -f /var/run/docker.sock
  fi
}

influx_answers() {
  [[ $(curl -s -o /dev/null -w '%{http_code}' --max-time 2 \
    "http://127.0.0.1:$INFLUX_PORT/ping" 2>/dev/null) == 204 ]]
}

write_influx_conf() {
  mkdir -p "$INFLUX_DIR/meta" "$INFLUX_DIR/data" "$INFLUX_DIR/wal"
  cat >"$INFLUX_CONF.tmp" <<EOF
reporting-disabled = true
bind-address = "127.0.0.1:8088"

[meta]
  dir = "$INFLUX_DIR/meta"

[data]
  dir = "$INFLUX_DIR/data"
  wal-dir = "$INFLUX_DIR/wal"
  query-log-enabled = false

[monitor]
  store-enabled = false

[http]
  enabled = true
  bind-address = "0.0.0.0:$INFLUX_PORT"
  auth-enabled = false
  log-enabled = false

[logging]
  level = "warn"
EOF
  mv "$INFLUX_CONF.tmp" "$INFLUX_CONF"
}

cmd_influx_start() {
  need_root
  command -v influxd >/dev/null || die "influxd missing: run '$0 install' first"
  mkdir -p "$LAB_RUN"
  if pid_alive "$INFLUX_PID" && influx_answers; then
    log "influxd already running (pid $(<"$INFLUX_PID"))"
    return 0
  fi
  if ! pid_alive "$INFLUX_PID"; then
    rm -f "$INFLUX_PID"
    write_influx_conf
    log "starting influxd on 0.0.0.0:$INFLUX_PORT (log $INFLUX_LOG)"
    setsid nohup influxd run -config "$INFLUX_CONF" -pidfile "$INFLUX_PID" \
      </dev/null >>"$INFLUX_LOG" 2>&1 &
    disown || true
  fi
  local deadline=$((SECONDS + 60))
  until influx_answers; do
    if ((SECONDS >= deadline)); then
      printf 'lab: error: influxd /ping did not answer 204 within 60 s; last log lines:\n' >&2
      tail -n 30 "$INFLUX_LOG" >&2 || true
      exit 1
    fi
    sleep 0.5
  done
  log "influxd ready: http://127.0.0.1:$INFLUX_PORT"
}

cmd_influx_stop() {
  need_root
  stop_pidfile influxd "$INFLUX_PID"
}

cmd_status() {
  if pid_alive "$DOCKERD_PID" && docker_answers; then
    echo "dockerd: running (pid $(<"$DOCKERD_PID"), $DOCKER_HOST_URL)"
  else
    echo "dockerd: stopped"
  fi
  if pid_alive "$INFLUX_PID" && influx_answers; then
    echo "influxd: running (pid $(<"$INFLUX_PID"), port $INFLUX_PORT)"
  else
    echo "influxd: stopped"
  fi
}

usage() {
  sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

case "${1:-}" in
  install) cmd_install ;;
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  influx-start) cmd_influx_start ;;
  influx-stop) cmd_influx_stop ;;
  vm-image) need_root; bash "$(dirname "$0")/vm-image.sh" build docker ;;
  *) usage ;;
esac
