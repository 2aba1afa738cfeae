#!/bin/bash
# start-uvicorn.sh: runs the FastAPI tutorial app (written by install-fastapi.sh) with uvicorn, as a
# service that survives logout and reboot (the tutorial's `uvicorn main:app` in a terminal does not),
# then waits until it answers on the port. Run as root by SSM Run Command (AWS-RunShellScript).
#
# The first line must stay `#!/bin/bash`: the SSM agent writes the commands to a file and runs
# `sh -c <file>`, so the shebang picks bash (Ubuntu's /bin/sh is dash, which has no `pipefail`).
#
# The app's version is the sha256 of main.py and constraints.txt (the pinned packages), both written by
# install-fastapi.sh: a running app whose version changed since it started is restarted, so a new
# main.py or a new package set is served as soon as this script runs again (and after any reboot).
#
# Two service managers:
#   systemd (default): writes /etc/systemd/system/hello-fleet-app.service (a dedicated system user,
#     Restart=on-failure, enabled at boot; the app's version in a comment), daemon-reload, enable
#     --now. When the unit file changed (the app's version or the settings), the service is restarted.
#   process: for a machine without systemd (a local emulation). Starts uvicorn in the background with
#     nohup; the pid goes to <app dir>/uvicorn.pid, the app's version to <app dir>/uvicorn.version and
#     the output to <app dir>/uvicorn.log. A live pid of the same version means it is already running:
#     it is not started twice; one of another version is stopped and started again.
# Either way the script then polls http://127.0.0.1:<port>/ for HELLO_FLEET_READY_TIMEOUT seconds and
# fails with the journal (or log) tail if nothing answers. Running the script twice is harmless.
#
# Environment (every variable optional; the defaults are production's):
#   HELLO_FLEET_APP_DIR          app directory (main.py, .venv)             default /opt/hello-fleet/app
#   HELLO_FLEET_PORT             port uvicorn listens on                    default 8000
#   HELLO_FLEET_HOST             address uvicorn binds                      default 0.0.0.0
#   HELLO_FLEET_SERVICE_MANAGER  systemd | process                          default systemd
#   HELLO_FLEET_SERVICE_USER     user the systemd unit runs as (created as
#                                a system user when missing; systemd only)  default hello-fleet
#   HELLO_FLEET_READY_TIMEOUT    seconds to wait for the port to answer     default 30
# A port below 1024 needs root: the systemd unit's user is not.
set -euo pipefail

APP_DIR="${HELLO_FLEET_APP_DIR:-/opt/hello-fleet/app}"
PORT="${HELLO_FLEET_PORT:-8000}"
HOST="${HELLO_FLEET_HOST:-0.0.0.0}"
SERVICE_MANAGER="${HELLO_FLEET_SERVICE_MANAGER:-systemd}"
SERVICE_USER="${HELLO_FLEET_SERVICE_USER:-hello-fleet}"
READY_TIMEOUT="${HELLO_FLEET_READY_TIMEOUT:-30}"

SERVICE_NAME="hello-fleet-app.service"
UNIT_FILE="/etc/systemd/system/${SERVICE_NAME}"
VENV_PYTHON="${APP_DIR}/.venv/bin/python"
PID_FILE="${APP_DIR}/uvicorn.pid"
VERSION_FILE="${APP_DIR}/uvicorn.version"
LOG_FILE="${APP_DIR}/uvicorn.log"

log() {
  printf '[start-uvicorn] %s\n' "$*"
}

die() {
  printf '[start-uvicorn] ERROR: %s\n' "$*" >&2
  exit 1
}

if ! [[ "${PORT}" =~ ^[0-9]+$ ]] || ((PORT < 1 || PORT > 65535)); then
  die "HELLO_FLEET_PORT must be 1-65535, got '${PORT}'"
fi
[[ "${READY_TIMEOUT}" =~ ^[0-9]+$ ]] || die "HELLO_FLEET_READY_TIMEOUT must be a number of seconds, got '${READY_TIMEOUT}'"
[[ -x "${VENV_PYTHON}" ]] || die "${VENV_PYTHON} is missing: run install-fastapi.sh first"
[[ -f "${APP_DIR}/main.py" ]] || die "${APP_DIR}/main.py is missing: run install-fastapi.sh first"

# What the app is made of. constraints.txt may be missing (an app dir from before the pins): then main.py alone.
app_version() {
  cat "${APP_DIR}/main.py" "${APP_DIR}/constraints.txt" 2>/dev/null | sha256sum | cut -c 1-16
}
APP_VERSION="$(app_version)"

# Any HTTP answer counts: the health check judges the body. Python is there for sure; curl may not be.
port_answers() {
  "${VENV_PYTHON}" - "${PORT}" <<'PY' >/dev/null 2>&1
import sys, urllib.error, urllib.request
try:
    urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/", timeout=2).read()
except urllib.error.HTTPError:
    pass
PY
}

unit_text() {
  cat <<UNIT
# Written by hello-fleet's start-uvicorn.sh. App version (sha256 of main.py and constraints.txt):
# ${APP_VERSION}. A new version rewrites this file, which restarts the service.
[Unit]
Description=hello-fleet: the FastAPI tutorial app (uvicorn on port ${PORT})
Wants=network-online.target
After=network-online.target

[Service]
Type=simple
User=${SERVICE_USER}
Group=${SERVICE_USER}
WorkingDirectory=${APP_DIR}
ExecStart="${VENV_PYTHON}" -m uvicorn main:app --host ${HOST} --port ${PORT}
Restart=on-failure
RestartSec=2
Environment=PYTHONUNBUFFERED=1
Environment=PYTHONDONTWRITEBYTECODE=1
NoNewPrivileges=true
PrivateTmp=true
ProtectSystem=full
ProtectHome=read-only

[Install]
WantedBy=multi-user.target
UNIT
}

start_with_systemd() {
  command -v systemctl >/dev/null 2>&1 || die "systemctl not found: set HELLO_FLEET_SERVICE_MANAGER=process"
  if ! id -u "${SERVICE_USER}" >/dev/null 2>&1; then
    log "creating system user ${SERVICE_USER}"
    useradd --system --user-group --no-create-home --home-dir "${APP_DIR}" --shell /usr/sbin/nologin "${SERVICE_USER}"
  fi

  local changed=0
  if [[ "$(unit_text)" != "$(cat "${UNIT_FILE}" 2>/dev/null || true)" ]]; then
    log "writing ${UNIT_FILE}"
    unit_text >"${UNIT_FILE}.tmp"
    chmod 0644 "${UNIT_FILE}.tmp"
    mv -f "${UNIT_FILE}.tmp" "${UNIT_FILE}"
    changed=1
  fi

  systemctl daemon-reload
  if ((changed)); then
    systemctl enable "${SERVICE_NAME}"
    log "restarting ${SERVICE_NAME} (app version ${APP_VERSION})"
    systemctl restart "${SERVICE_NAME}"
  else
    systemctl enable --now "${SERVICE_NAME}"
  fi
}

pid_is_uvicorn() {
  local pid="$1"
  [[ "${pid}" =~ ^[0-9]+$ ]] || return 1
  kill -0 "${pid}" 2>/dev/null || return 1
  # A stale pid file can name a pid that now belongs to something else.
  if [[ -r "/proc/${pid}/cmdline" ]]; then
    grep -qa uvicorn "/proc/${pid}/cmdline" || return 1
  fi
}

stop_process() {
  local pid="$1" waited=0
  kill "${pid}" 2>/dev/null || true
  while pid_is_uvicorn "${pid}" && ((waited < 100)); do
    sleep 0.1
    waited=$((waited + 1))
  done
  if pid_is_uvicorn "${pid}"; then
    kill -KILL "${pid}" 2>/dev/null || true
  fi
}

start_as_process() {
  local pid="" running_version=""
  [[ -f "${PID_FILE}" ]] && pid="$(cat "${PID_FILE}")"
  [[ -f "${VERSION_FILE}" ]] && running_version="$(cat "${VERSION_FILE}")"
  if [[ -n "${pid}" ]] && pid_is_uvicorn "${pid}"; then
    if [[ "${running_version}" == "${APP_VERSION}" ]]; then
      log "uvicorn is already running (pid ${pid})"
      return 0
    fi
    log "the app changed (version ${running_version:-unknown} -> ${APP_VERSION}): restarting uvicorn (pid ${pid})"
    stop_process "${pid}"
  fi
  log "starting uvicorn in the background (log: ${LOG_FILE})"
  (
    cd "${APP_DIR}"
    PYTHONUNBUFFERED=1 nohup "${VENV_PYTHON}" -m uvicorn main:app --host "${HOST}" --port "${PORT}" \
      >>"${LOG_FILE}" 2>&1 </dev/null &
    echo "$!" >"${PID_FILE}"
  )
  echo "${APP_VERSION}" >"${VERSION_FILE}"
}

# Still worth waiting for? False once the service or process is gone for good.
still_starting() {
  if [[ "${SERVICE_MANAGER}" == "systemd" ]]; then
    if systemctl is-failed --quiet "${SERVICE_NAME}"; then
      return 1
    fi
  else
    pid_is_uvicorn "$(cat "${PID_FILE}" 2>/dev/null || true)"
  fi
}

show_failure() {
  if [[ "${SERVICE_MANAGER}" == "systemd" ]]; then
    systemctl status --no-pager "${SERVICE_NAME}" >&2 || true
    journalctl --unit "${SERVICE_NAME}" --no-pager --lines 30 >&2 || true
  else
    tail -n 30 "${LOG_FILE}" >&2 || true
  fi
}

case "${SERVICE_MANAGER}" in
  systemd) start_with_systemd ;;
  process) start_as_process ;;
  *) die "HELLO_FLEET_SERVICE_MANAGER must be systemd or process, got '${SERVICE_MANAGER}'" ;;
esac

log "waiting for http://127.0.0.1:${PORT}/ (at most ${READY_TIMEOUT}s)"
deadline=$((SECONDS + READY_TIMEOUT))
until port_answers; do
  if ((SECONDS >= deadline)) || ! still_starting; then
    show_failure
    die "nothing answers on port ${PORT} after $((SECONDS - deadline + READY_TIMEOUT))s"
  fi
  sleep 1
done
log "uvicorn answers on port ${PORT}"
