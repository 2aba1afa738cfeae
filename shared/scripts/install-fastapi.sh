#!/bin/bash
# install-fastapi.sh: installs the FastAPI tutorial app (https://fastapi.tiangolo.com/tutorial/first-steps/)
# into a Python virtual environment. Run as root by SSM Run Command (AWS-RunShellScript) on a fresh
# Ubuntu 22.04/24.04 instance, right after boot; start-uvicorn.sh runs it afterwards.
#
# The first line must stay `#!/bin/bash`: the SSM agent writes the commands to a file and runs
# `sh -c <file>`, so the shebang picks bash (Ubuntu's /bin/sh is dash, which has no `pipefail`).
#
# What it does, each step safe to repeat (running the script twice is harmless):
#   1. waits for cloud-init to finish (at most HELLO_FLEET_CLOUD_INIT_TIMEOUT seconds, then goes on);
#   2. apt-get update, then apt-get install python3-pip python3-venv. Right after the first boot
#      apt-daily.service and apt-daily-upgrade.service (unattended-upgrades) run apt on their own: each
#      apt-get waits for them to finish and for every apt lock they hold (the dpkg frontend lock, the
#      lists lock, the archives lock), all within one deadline (HELLO_FLEET_APT_TIMEOUT seconds);
#   3. creates a venv in <app dir>/.venv, so Ubuntu 24.04's PEP 668 ("externally managed
#      environment") never applies, and pip-installs fastapi and uvicorn[standard] into it at the
#      versions pinned below, written to <app dir>/constraints.txt (at most HELLO_FLEET_PIP_TIMEOUT s);
#   4. writes the tutorial's main.py into the app dir.
# start-uvicorn.sh restarts a running app when main.py or constraints.txt changed.
#
# Its deadlines add up to less than the executionTimeout hello-fleet sends it with, so a stuck first
# boot fails with this script's own message, not SSM's kill (docs/timeouts.md; a contract test checks).
#
# Environment (every variable optional; the defaults are production's):
#   HELLO_FLEET_APP_DIR               app directory (main.py, .venv)       default /opt/hello-fleet/app
#   HELLO_FLEET_PYTHON                interpreter that creates the venv    default python3
#   HELLO_FLEET_SKIP_SYSTEM_PACKAGES  1: skip the cloud-init wait, the apt
#                                     waits and apt-get (a machine
#                                     without apt, or a local emulation)   default 0
#   HELLO_FLEET_CLOUD_INIT_TIMEOUT    seconds to wait for cloud-init       default 300
#   HELLO_FLEET_APT_TIMEOUT           seconds for the whole apt phase: the
#                                     waits for apt-daily, unattended-
#                                     upgrades and the apt locks, and the
#                                     apt-get calls themselves             default 600
#   HELLO_FLEET_PIP_TIMEOUT           seconds for pip install              default 300
# pip reads its own settings from the environment and pip.conf as usual (PIP_INDEX_URL,
# PIP_EXTRA_INDEX_URL, PIP_DEFAULT_TIMEOUT, PIP_RETRIES...): a mirror configured on the image is
# used; no index is hard-coded here.
set -euo pipefail

APP_DIR="${HELLO_FLEET_APP_DIR:-/opt/hello-fleet/app}"
PYTHON="${HELLO_FLEET_PYTHON:-python3}"
SKIP_SYSTEM_PACKAGES="${HELLO_FLEET_SKIP_SYSTEM_PACKAGES:-0}"
CLOUD_INIT_TIMEOUT="${HELLO_FLEET_CLOUD_INIT_TIMEOUT:-300}"
APT_TIMEOUT="${HELLO_FLEET_APT_TIMEOUT:-600}"
PIP_TIMEOUT="${HELLO_FLEET_PIP_TIMEOUT:-300}"
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

require_seconds() {
  [[ "$2" =~ ^[0-9]+$ ]] || die "$1 must be a number of seconds, got '$2'"
}
require_seconds HELLO_FLEET_CLOUD_INIT_TIMEOUT "${CLOUD_INIT_TIMEOUT}"
require_seconds HELLO_FLEET_APT_TIMEOUT "${APT_TIMEOUT}"
require_seconds HELLO_FLEET_PIP_TIMEOUT "${PIP_TIMEOUT}"

# The versions every server gets: the whole dependency tree of fastapi and uvicorn[standard], exact, so
# all the servers of a class run the same app whatever PyPI publishes that day. One set for every
# supported Ubuntu: each version supports Python 3.10 (22.04) to 3.12 (24.04); exceptiongroup only
# installs on 3.10. test/integration/scripts.test.ts fails when an installed package is not pinned here
# or does not support those Pythons; docs/first-boot.md says how to refresh the set.
CONSTRAINTS='annotated-doc==0.0.5
annotated-types==0.8.0
anyio==4.15.1
click==8.5.0
exceptiongroup==1.3.1
fastapi==0.142.2
h11==0.16.0
httptools==0.8.0
idna==3.20
opentelemetry-api==1.45.0
pydantic==2.13.5
pydantic-core==2.46.5
python-dotenv==1.2.4
pyyaml==6.0.3
starlette==1.7.0
typing-extensions==4.16.0
typing-inspection==0.4.4
uvicorn==0.54.0
uvloop==0.23.0
watchfiles==1.2.0
websockets==16.1.1'

# cloud-init may still be writing apt sources or running package upgrades of its own. Not finishing in
# time is not fatal: whatever it still does with apt, the apt waits below wait for.
wait_for_cloud_init() {
  if ! command -v cloud-init >/dev/null 2>&1; then
    return 0
  fi
  log "waiting for cloud-init to finish (at most ${CLOUD_INIT_TIMEOUT}s)"
  local rc=0
  timeout "${CLOUD_INIT_TIMEOUT}" cloud-init status --wait >/dev/null 2>&1 || rc=$?
  case "${rc}" in
    0) log "cloud-init is done" ;;
    124) log "cloud-init is still running after ${CLOUD_INIT_TIMEOUT}s; going on" ;;
    # 1: failed, 2: done with recoverable errors. Not ours to fix: only say so.
    *) log "cloud-init finished with errors (cloud-init status exit ${rc}); going on" ;;
  esac
}

APT_DEADLINE=0
APT_ERR="$(mktemp)"
trap 'rm -f "${APT_ERR}"' EXIT

# The systemd units that run apt on their own right after the first boot (Ubuntu's timers fire then):
# apt-get update, then unattended-upgrades. Between their apt calls the locks are free for a moment, so
# waiting for the units, not only for the locks, keeps our apt-get from slipping in between.
APT_UNITS=(apt-daily.service apt-daily-upgrade.service)

busy_apt_unit() {
  [[ -d /run/systemd/system ]] || return 1
  local unit state
  for unit in "${APT_UNITS[@]}"; do
    state="$(systemctl show --property=ActiveState --value "${unit}" 2>/dev/null || true)"
    case "${state}" in
      activating | deactivating | reloading | active)
        printf '%s' "${unit}"
        return 0
        ;;
    esac
  done
  return 1
}

wait_for_apt_units() {
  local unit
  while unit="$(busy_apt_unit)"; do
    ((SECONDS < APT_DEADLINE)) || die "${unit} is still running after ${APT_TIMEOUT}s (HELLO_FLEET_APT_TIMEOUT)"
    log "waiting for ${unit} to finish"
    sleep 5
  done
}

# apt-get's DPkg::Lock::Timeout waits for the dpkg frontend lock only. The lists lock (apt-get update)
# and the archives lock (apt-get install, even with nothing to download) make apt-get fail at once with
# exit 100, so a call that failed on a lock is tried again every 5 s until the apt deadline.
APT_LOCK_ERROR='Could not get lock|Unable to lock directory|Unable to acquire the dpkg frontend lock'

apt_get() {
  local rc remaining held
  while true; do
    wait_for_apt_units
    remaining=$((APT_DEADLINE - SECONDS))
    ((remaining > 0)) || die "apt-get $1: no time left (HELLO_FLEET_APT_TIMEOUT=${APT_TIMEOUT}s)"
    rc=0
    LC_ALL=C DEBIAN_FRONTEND=noninteractive apt-get -o "DPkg::Lock::Timeout=${remaining}" "$@" 2>"${APT_ERR}" || rc=$?
    if ((rc == 0)); then
      cat "${APT_ERR}" >&2
      return 0
    fi
    if ! grep -Eq "${APT_LOCK_ERROR}" "${APT_ERR}"; then
      cat "${APT_ERR}" >&2
      return "${rc}"
    fi
    held="$(grep -m 1 -E "${APT_LOCK_ERROR}" "${APT_ERR}" | sed 's/^E: //')"
    ((SECONDS + 5 < APT_DEADLINE)) || die "apt-get $1 gave up after ${APT_TIMEOUT}s (HELLO_FLEET_APT_TIMEOUT): ${held}"
    log "apt-get $1 is waiting: ${held}"
    sleep 5
  done
}

install_system_packages() {
  wait_for_cloud_init
  APT_DEADLINE=$((SECONDS + APT_TIMEOUT))
  log "installing python3-pip and python3-venv (apt waits at most ${APT_TIMEOUT}s)"
  # A mirror can hiccup at boot: one more try before giving up.
  if ! apt_get update -q; then
    log "apt-get update failed; trying once more in 10s"
    sleep 10
    apt_get update -q || die "apt-get update failed twice"
  fi
  apt_get install -y -q --no-install-recommends python3-pip python3-venv || die "apt-get install python3-pip python3-venv failed"
}

# Atomic, so a concurrent start never reads half a file; unchanged content keeps the file as it is.
write_file() {
  local target="$1" content="$2" tmp
  if [[ -f "${target}" && "$(cat "${target}")" == "${content}" ]]; then
    return 0
  fi
  tmp="$(mktemp "${target}.XXXXXX")"
  printf '%s\n' "${content}" >"${tmp}"
  chmod 0644 "${tmp}"
  mv -f "${tmp}" "${target}"
}

main_py() {
  cat <<'PY'
from fastapi import FastAPI

app = FastAPI()


@app.get("/")
def read_root():
    return {"Hello": "World"}
PY
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

write_file "${APP_DIR}/constraints.txt" "${CONSTRAINTS}"
log "installing fastapi and uvicorn[standard] as pinned in ${APP_DIR}/constraints.txt (at most ${PIP_TIMEOUT}s)"
rc=0
timeout "${PIP_TIMEOUT}" "${VENV_DIR}/bin/python" -m pip install --disable-pip-version-check --no-input \
  --constraint "${APP_DIR}/constraints.txt" fastapi 'uvicorn[standard]' || rc=$?
if ((rc == 124)); then
  die "pip install did not finish in ${PIP_TIMEOUT}s (HELLO_FLEET_PIP_TIMEOUT)"
elif ((rc != 0)); then
  die "pip install failed (exit ${rc})"
fi

log "writing ${APP_DIR}/main.py"
write_file "${APP_DIR}/main.py" "$(main_py)"

"${VENV_DIR}/bin/python" -c 'import fastapi, uvicorn; print("[install-fastapi] fastapi", fastapi.__version__, "uvicorn", uvicorn.__version__)'
log "done"
