#!/usr/bin/env bash
# Installs the Debian packages edgekit needs when they are missing and we are root.
#   system-deps.sh venv    what creating the virtual environment needs
#   system-deps.sh demo    what the quickstart needs: gcc for its host C build, the cross toolchains
#                          and qemu for its aarch64 and Cortex-M builds, the STM32 auto-fit and the
#                          emulated benchmark (without them the quickstart skips those and says so)
#   system-deps.sh tests   what the test suite needs (system tools the tests run for real)
# Not root, or not Debian: prints what is missing and carries on; the tests that need a missing
# tool then skip, or fail under EDGEKIT_STRICT_TOOLS=1 (as in CI).
# EDGEKIT_DEPS_DRY_RUN=1 prints the apt-get line instead of running it, and EDGEKIT_DEPS_ROOT=DIR
# looks for the files below under DIR: how the tests check the lists without installing anything.
set -euo pipefail

PYTHON=${PYTHON:-python3}
missing=()

need_venv() {
  # Debian's python3 ships venv without ensurepip until python3-venv is installed.
  "$PYTHON" -c 'import ensurepip, venv' 2>/dev/null || missing+=("python3-venv")
}

ROOT=${EDGEKIT_DEPS_ROOT:-}

# One line per system tool the quickstart runs: "command package".
DEMO_TOOLS=(
  "gcc gcc"
  "aarch64-linux-gnu-gcc gcc-aarch64-linux-gnu"
  "arm-linux-gnueabihf-gcc gcc-arm-linux-gnueabihf"
  "arm-none-eabi-gcc gcc-arm-none-eabi"
  "qemu-aarch64 qemu-user"
  "qemu-system-arm qemu-system-arm"
)
# The tests run those and a browser (reports, dashboard) and faketime (clock tests).
TEST_TOOLS=("${DEMO_TOOLS[@]}" "chromium chromium" "faketime faketime")

# Files (not commands): "path package".
# The cross C libraries are only Recommends of the cross compilers, and we install without those.
DEMO_FILES=(
  "/usr/lib/arm-none-eabi/newlib/libc.a libnewlib-arm-none-eabi"
  "/usr/aarch64-linux-gnu/lib/libc.a libc6-dev-arm64-cross"
  "/usr/arm-linux-gnueabihf/lib/libc.a libc6-dev-armhf-cross"
)
TEST_FILES=(
  "${DEMO_FILES[@]}"
  "/usr/sbin/nginx nginx"  # the static mirror tests (a file: /usr/sbin is not on every user's PATH)
)

need() {  # need TOOLS_ARRAY FILES_ARRAY
  local -n tools=$1 files=$2
  local entry
  for entry in "${tools[@]}"; do
    set -- $entry
    command -v "$1" >/dev/null 2>&1 || missing+=("$2")
  done
  for entry in "${files[@]}"; do
    set -- $entry
    [ -e "$ROOT$1" ] || missing+=("$2")
  done
}

need_demo() {
  need DEMO_TOOLS DEMO_FILES
}

need_tests() {
  need TEST_TOOLS TEST_FILES
  # The multi-replica server tests start a private PostgreSQL cluster with the server programs.
  compgen -G "$ROOT/usr/lib/postgresql/*/bin/initdb" >/dev/null || missing+=("postgresql")
}

case "${1:-tests}" in
  venv) need_venv ;;
  demo) need_demo ;;
  tests) need_tests ;;
  *) echo "usage: system-deps.sh venv|demo|tests" >&2; exit 2 ;;
esac

[ ${#missing[@]} -eq 0 ] && exit 0
if [ "${EDGEKIT_DEPS_DRY_RUN:-}" = 1 ]; then
  echo "would run: apt-get install -y --no-install-recommends ${missing[*]}"
elif [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  echo "missing Debian packages: ${missing[*]} (run as root on Debian to install them: apt-get install ${missing[*]})" >&2
fi
