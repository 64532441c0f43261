# Shared helpers for scripts/: installing what is missing on a fresh machine.

# need CMD...: true when every command exists.
need() {
  local c
  for c in "$@"; do command -v "$c" >/dev/null 2>&1 || return 1; done
}

# apt_install PKG...: apt-installs the packages (none: does nothing); fails
# loudly when it cannot.
apt_install() {
  [ $# -eq 0 ] && return 0
  echo "installing $*" >&2
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  if ! need apt-get; then
    echo "error: $* missing and apt-get is not available; install them by hand" >&2
    return 1
  fi
  $sudo apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

# install_missing PKG:CMD...: apt-installs the packages whose command is
# missing.
install_missing() {
  local pkgs=() spec
  for spec in "$@"; do
    need "${spec#*:}" || pkgs+=("${spec%%:*}")
  done
  apt_install "${pkgs[@]}"
}

# install_missing_py PKG:MODULE...: apt-installs the packages whose Python
# module Debian's own /usr/bin/python3 cannot import (a python3 first on
# PATH, e.g. pyenv's, does not see Debian's modules; the tests look in
# /usr/bin/python3 first). python3 comes with the packages.
install_missing_py() {
  local pkgs=() spec
  for spec in "$@"; do
    /usr/bin/python3 -c "import ${spec#*:}" >/dev/null 2>&1 || pkgs+=("${spec%%:*}")
  done
  apt_install "${pkgs[@]}"
}
