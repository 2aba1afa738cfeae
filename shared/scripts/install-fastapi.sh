#!/bin/bash
# install-fastapi.sh: installs the FastAPI tutorial app (https://fastapi.tiangolo.com/tutorial/first-steps/)
# into a Python virtual environment. Run as root by SSM Run Command (AWS-RunShellScript) on a fresh
# Ubuntu 22.04/24.04 instance, right after boot; start-uvicorn.sh runs it afterwards.
#
# The first line must stay `#!/bin/bash`: the SSM agent writes the commands to a file and executes
# it, so the shebang picks bash (Ubuntu's /bin/sh is dash, which has no `pipefail`).
#
# What it does, each step safe to repeat (running the script twice is harmless):
#   1. waits for cloud-init to finish, and for the dpkg/apt locks that unattended-upgrades holds at
#      first boot (bounded: HELLO_FLEET_APT_LOCK_TIMEOUT seconds);
#   2. apt-get installs python3-pip and python3-venv;
#   3. creates a venv in <app dir>/.venv, so Ubuntu 24.04's PEP 668 ("externally managed
#      environment") never applies, and pip-installs fastapi and uvicorn[standard] into it;
#   4. writes the tutorial's main.py into the app dir.
#
# Environment (every variable optional; the defaults are production's):
#   HELLO_FLEET_APP_DIR               app directory (main.py, .venv)       default /opt/hello-fleet/app
#   HELLO_FLEET_PYTHON                interpreter that creates the venv    default python3
#   HELLO_FLEET_SKIP_SYSTEM_PACKAGES  1: skip the cloud-init wait, the apt
#                                     lock wait and apt-get (a machine
#                                     without apt, or a local emulation)   default 0
#   HELLO_FLEET_APT_LOCK_TIMEOUT      seconds to wait for cloud-init and
#                                     for each apt/dpkg lock               default 600
# pip reads its own settings from the environment and pip.conf as usual (PIP_INDEX_URL,
# PIP_EXTRA_INDEX_URL, PIP_CONSTRAINT to pin versions, PIP_DEFAULT_TIMEOUT, PIP_RETRIES...): no
# index is hard-coded here.
set -euo pipefail

APP_DIR="${HELLO_FLEET_APP_DIR:-/opt/hello-fleet/app}"
PYTHON="${HELLO_FLEET_PYTHON:-python3}"
SKIP_SYSTEM_PACKAGES="${HELLO_FLEET_SKIP_SYSTEM_PACKAGES:-0}"
LOCK_TIMEOUT="${HELLO_FLEET_APT_LOCK_TIMEOUT:-600}"
VENV_DIR="${APP_DIR}/.venv"

# The service user must be able to read everything written here.
umask 022

log() {
  printf '[install-fastapi] %s\n' "$*"
}

die() {
  printf '[install-fastapi] ERROR: %s\n' "$*" >&2
  exit 1
}

# cloud-init may still be writing apt sources or running package upgrades of its own.
wait_for_cloud_init() {
  if ! command -v cloud-init >/dev/null 2>&1; then
    return 0
  fi
  log "waiting for cloud-init to finish (at most ${LOCK_TIMEOUT}s)"
  # Exit code 2 means "done, with recoverable errors": not our business, so only warn.
  if ! timeout "${LOCK_TIMEOUT}" cloud-init status --wait >/dev/null; then
    log "cloud-init did not report a clean finish; going on"
  fi
}

# unattended-upgrades holds these at first boot, often for minutes. Polling fuser keeps the wait
# bounded; apt-get's own DPkg::Lock::Timeout below covers a lock taken between our check and apt-get.
wait_for_apt_locks() {
  local deadline=$((SECONDS + LOCK_TIMEOUT))
  local lock
  if ! command -v fuser >/dev/null 2>&1; then
    return 0
  fi
  for lock in /var/lib/dpkg/lock-frontend /var/lib/dpkg/lock /var/lib/apt/lists/lock /var/cache/apt/archives/lock; do
    while [[ -e "${lock}" ]] && fuser "${lock}" >/dev/null 2>&1; do
      if ((SECONDS >= deadline)); then
        die "${lock} is still held after ${LOCK_TIMEOUT}s"
      fi
      log "waiting for ${lock}"
      sleep 5
    done
  done
}

apt_get() {
  DEBIAN_FRONTEND=noninteractive apt-get -o "DPkg::Lock::Timeout=${LOCK_TIMEOUT}" "$@"
}

install_system_packages() {
  wait_for_cloud_init
  wait_for_apt_locks
  log "installing python3-pip and python3-venv"
  # A mirror can hiccup at boot: one more try before giving up.
  apt_get update -q || { sleep 10 && apt_get update -q; }
  apt_get install -y -q --no-install-recommends python3-pip python3-venv
}

write_main_py() {
  local tmp
  tmp="$(mktemp "${APP_DIR}/.main.py.XXXXXX")"
  cat >"${tmp}" <<'PY'
from fastapi import FastAPI

app = FastAPI()


@app.get("/")
def read_root():
    return {"Hello": "World"}
PY
  chmod 0644 "${tmp}"
  # Atomic, so a concurrent start never reads half a file.
  mv -f "${tmp}" "${APP_DIR}/main.py"
}

if [[ "${SKIP_SYSTEM_PACKAGES}" == "1" ]]; then
  log "HELLO_FLEET_SKIP_SYSTEM_PACKAGES=1: skipping cloud-init, apt locks and apt-get"
else
  install_system_packages
fi

command -v "${PYTHON}" >/dev/null 2>&1 || die "${PYTHON} not found"
mkdir -p "${APP_DIR}"

# Re-running venv over an existing one keeps its packages and repairs a half-made one.
log "creating the virtual environment ${VENV_DIR}"
"${PYTHON}" -m venv "${VENV_DIR}"

log "installing fastapi and uvicorn[standard]"
"${VENV_DIR}/bin/python" -m pip install --disable-pip-version-check --no-input fastapi 'uvicorn[standard]'

log "writing ${APP_DIR}/main.py"
write_main_py

"${VENV_DIR}/bin/python" -c 'import fastapi, uvicorn; print("[install-fastapi] fastapi", fastapi.__version__, "uvicorn", uvicorn.__version__)'
log "done"
