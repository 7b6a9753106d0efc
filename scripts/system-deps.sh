#!/usr/bin/env bash
# Installs the Debian packages edgekit needs when they are missing and we are root.
#   system-deps.sh venv    what creating the virtual environment needs
#   system-deps.sh demo    what the quickstart needs (gcc for its host C build; the cross builds
#                          run when their toolchains are present, and are skipped otherwise)
#   system-deps.sh tests   what the test suite needs (system tools the tests run for real)
# Not root, or not Debian: prints what is missing and carries on; the tests that need a missing
# tool then skip, or fail under EDGEKIT_STRICT_TOOLS=1 (as in CI).
set -euo pipefail

PYTHON=${PYTHON:-python3}
missing=()

need_venv() {
  # Debian's python3 ships venv without ensurepip until python3-venv is installed.
  "$PYTHON" -c 'import ensurepip, venv' 2>/dev/null || missing+=("python3-venv")
}

# One line per system tool the tests use: "command package".
TEST_TOOLS=(
  "gcc gcc"
  "aarch64-linux-gnu-gcc gcc-aarch64-linux-gnu"
  "arm-linux-gnueabihf-gcc gcc-arm-linux-gnueabihf"
  "arm-none-eabi-gcc gcc-arm-none-eabi"
  "qemu-aarch64 qemu-user"
  "qemu-system-arm qemu-system-arm"
  "chromium chromium"
  "faketime faketime"
)

# Files (not commands) the tests need: "path package".
# The cross C libraries are only Recommends of the cross compilers, and we install without those.
TEST_FILES=(
  "/usr/lib/arm-none-eabi/newlib/libc.a libnewlib-arm-none-eabi"
  "/usr/aarch64-linux-gnu/lib/libc.a libc6-dev-arm64-cross"
  "/usr/arm-linux-gnueabihf/lib/libc.a libc6-dev-armhf-cross"
  "/usr/sbin/nginx nginx"  # the static mirror tests (a file: /usr/sbin is not on every user's PATH)
)

need_demo() {
  command -v gcc >/dev/null 2>&1 || missing+=("gcc")
}

need_tests() {
  local entry
  for entry in "${TEST_TOOLS[@]+"${TEST_TOOLS[@]}"}"; do
    set -- $entry
    command -v "$1" >/dev/null 2>&1 || missing+=("$2")
  done
  for entry in "${TEST_FILES[@]}"; do
    set -- $entry
    [ -e "$1" ] || missing+=("$2")
  done
  # The multi-replica server tests start a private PostgreSQL cluster with the server programs.
  compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || missing+=("postgresql")
}

case "${1:-tests}" in
  venv) need_venv ;;
  demo) need_demo ;;
  tests) need_tests ;;
  *) echo "usage: system-deps.sh venv|demo|tests" >&2; exit 2 ;;
esac

[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  echo "missing Debian packages: ${missing[*]} (run as root on Debian to install them: apt-get install ${missing[*]})" >&2
fi
