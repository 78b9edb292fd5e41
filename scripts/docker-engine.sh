#!/usr/bin/env bash
# Start (or stop) a Docker engine for the tests when none answers.
#   scripts/docker-engine.sh start   # installs Debian's docker.io if needed, starts dockerd, waits
#   scripts/docker-engine.sh stop    # stops only the dockerd this script started (by its PID)
# The flags give containers no bridge network (only loopback, or --network host): the CI machines
# allow no other traffic.
set -euo pipefail
PIDFILE=${ENVCTL_DOCKERD_PIDFILE:-/tmp/envctl-dockerd.pid}
LOG=${ENVCTL_DOCKERD_LOG:-/tmp/envctl-dockerd.log}

need_packages() {
  local missing=()
  command -v dockerd >/dev/null || missing+=(docker.io)
  command -v containerd >/dev/null || missing+=(containerd)
  command -v docker-registry >/dev/null || missing+=(docker-registry)
  # The test images need a static busybox: Debian's dynamic `busybox` package would not run in them
  # (ldd succeeds on it), and busybox-static replaces it.
  if ! command -v busybox >/dev/null || ldd "$(command -v busybox)" >/dev/null 2>&1; then missing+=(busybox-static); fi
  command -v rsvg-convert >/dev/null || missing+=(librsvg2-bin)  # renders the timings SVG for its test
  if [ ${#missing[@]} -gt 0 ]; then
    echo "installing: ${missing[*]}" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
}

answers() { timeout 10 docker info >/dev/null 2>&1; }

case "${1:-start}" in
  start)
    need_packages
    if answers; then echo "docker engine already answering" >&2; exit 0; fi
    dockerd --bridge=none --iptables=false --ip-masq=false >"$LOG" 2>&1 &
    echo $! >"$PIDFILE"
    for _ in $(seq 1 60); do
      if answers; then echo "docker engine started (pid $(cat "$PIDFILE"))" >&2; exit 0; fi
      sleep 1
    done
    echo "dockerd did not answer within 60 s; its log:" >&2; tail -20 "$LOG" >&2; exit 1
    ;;
  stop)
    if [ -f "$PIDFILE" ]; then
      pid=$(cat "$PIDFILE")
      kill "$pid" 2>/dev/null || true
      for _ in $(seq 1 20); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
      rm -f "$PIDFILE"
    fi
    ;;
  *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
