#!/usr/bin/env bash
# Idempotent setup for `make serve` / `make test` on a fresh Debian/Ubuntu machine.
#   scripts/setup.sh python   - .venv with the pinned Python deps (requirements.lock)
#   scripts/setup.sh vendor   - npm ci (package-lock.json) and static/vendor/ copies
#   scripts/setup.sh browser  - Debian's chromium (apt-get when root, else a clear message)
#   scripts/setup.sh services - Debian's postgresql and redis-server, for the tests that
#                               run several instances on PostgreSQL + Redis (the tests start
#                               and stop their own throwaway servers); `make serve` needs
#                               neither (SQLite and the in-process hub are the default)
#   scripts/setup.sh snapshot - the Pyodide memory snapshot the page boots from
#                               (scripts/build_snapshot.py); without chromium it says so and
#                               skips, and a failed build warns: the app then boots plain
# Each step records a stamp in .stamps/ holding the hash of its inputs, so a second run
# is a no-op until a lockfile changes.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p .stamps

stamp_ok() {  # stamp_ok NAME HASH -> 0 if the stamp matches
    [[ -f ".stamps/$1" && "$(cat ".stamps/$1")" == "$2" ]]
}

apt_install() {  # apt_install PKG... (root only)
    if [[ $(id -u) -ne 0 ]]; then
        echo "error: missing system packages: $*" >&2
        echo "       install them with: sudo apt-get install -y $*" >&2
        exit 1
    fi
    if [[ ! -f .stamps/apt-updated ]]; then
        apt-get update -qq
        touch .stamps/apt-updated
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

PYTHON=${PYTHON:-python3}

setup_python() {
    if ! command -v "$PYTHON" >/dev/null; then apt_install python3 python3-venv; fi
    if ! "$PYTHON" -c 'import sys; assert sys.version_info >= (3, 11)' 2>/dev/null; then
        echo "error: Python >= 3.11 is required ($PYTHON is $("$PYTHON" -V 2>&1))" >&2
        exit 1
    fi
    local hash
    hash=$(cat requirements.lock pyproject.toml | sha256sum | cut -d' ' -f1)
    if [[ -x .venv/bin/python ]] && stamp_ok python "$hash"; then return; fi
    if ! "$PYTHON" -c 'import venv, ensurepip' 2>/dev/null; then apt_install python3-venv; fi
    [[ -x .venv/bin/python ]] || "$PYTHON" -m venv .venv
    .venv/bin/python -m pip install -q --disable-pip-version-check -r requirements.lock
    echo "$hash" > .stamps/python
}

setup_vendor() {
    if ! command -v npm >/dev/null; then apt_install nodejs npm; fi
    local hash
    hash=$(cat package.json package-lock.json | sha256sum | cut -d' ' -f1)
    if [[ -f static/vendor/pyodide/pyodide.mjs && -f static/vendor/pyscript/core.js ]] \
        && stamp_ok vendor "$hash"; then return; fi
    npm ci --no-audit --no-fund --silent
    rm -rf static/vendor
    mkdir -p static/vendor
    cp -r node_modules/@pyscript/core/dist static/vendor/pyscript
    cp -r node_modules/pyodide static/vendor/pyodide
    echo "$hash" > .stamps/vendor
}

setup_browser() {
    # ZARIZ_CHROMIUM points the tests at another Chromium binary (e.g. on Ubuntu, where
    # the chromium package is a snap stub that does not run in containers).
    if [[ -n "${ZARIZ_CHROMIUM:-}" && -x "${ZARIZ_CHROMIUM}" ]]; then return; fi
    if [[ -x /usr/bin/chromium ]]; then return; fi
    apt_install chromium
}

setup_services() {
    # Binaries only: the tests run initdb/pg_ctl and redis-server themselves, on free ports
    # in temporary folders. Already there (e.g. installed by hand) -> nothing to do.
    local missing=()
    compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || missing+=(postgresql)
    [[ -x /usr/bin/redis-server ]] || command -v redis-server >/dev/null \
        || missing+=(redis-server)
    if [[ ${#missing[@]} -gt 0 ]]; then apt_install "${missing[@]}"; fi
}

setup_snapshot() {
    # SNAPSHOT_FORCE=1 (`make snapshot`): rebuild even when current, and fail on failure.
    local force=${SNAPSHOT_FORCE:-0}
    local chromium=${ZARIZ_CHROMIUM:-/usr/bin/chromium}
    if [[ ! -x "$chromium" ]]; then
        echo "snapshot: no chromium at $chromium; skipped (the app boots without a snapshot;" \
             "\`make test\` installs chromium)" >&2
        [[ $force == 1 ]] && exit 1
        # A snapshot another boot loader made stays unannounced (the builder's first check).
        .venv/bin/python scripts/build_snapshot.py --chromium "$chromium" >/dev/null 2>&1 || true
        return
    fi
    # Inputs: the vendored Pyodide (its lockfile stamp), the app's sources (the bundle),
    # the builder, the loader (and its fetcher) that checks the build, and the server code
    # that names it.
    local hash
    hash=$( (cat .stamps/vendor 2>/dev/null
             find app/zariz -name '*.py' -not -path '*/__pycache__/*' -print0 | sort -z \
                 | xargs -0 sha256sum
             sha256sum scripts/build_snapshot.py static/boot/zariz-loader.mjs \
                 static/boot/snapshot-fetch.mjs server/web.py) \
           | sha256sum | cut -d' ' -f1)
    if [[ $force != 1 ]] && stamp_ok snapshot "$hash" \
        && compgen -G "var/snapshot/*.json" >/dev/null; then return; fi
    local status=0
    # --force: the builder itself may have changed what goes into the snapshot.
    .venv/bin/python scripts/build_snapshot.py --force || status=$?
    if [[ $status -eq 0 ]]; then
        echo "$hash" > .stamps/snapshot
    elif [[ $force == 1 ]]; then
        exit "$status"
    else
        echo "snapshot: not built (exit $status); the app boots without a snapshot" >&2
    fi
}

for step in "$@"; do
    case "$step" in
        python) setup_python ;;
        vendor) setup_vendor ;;
        browser) setup_browser ;;
        services) setup_services ;;
        snapshot) setup_snapshot ;;
        *) echo "unknown setup step: $step" >&2; exit 2 ;;
    esac
done
