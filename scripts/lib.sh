# Shared helpers for scripts/: installing what is missing on a fresh machine.

# need CMD...: true when every command exists.
need() {
  local c
  for c in "$@"; do command -v "$c" >/dev/null 2>&1 || return 1; done
}

# install_missing PKG:CMD...: apt-installs the packages whose command is
# missing; fails loudly when it cannot.
install_missing() {
  local pkgs=() spec
  for spec in "$@"; do
    need "${spec#*:}" || pkgs+=("${spec%%:*}")
  done
  [ ${#pkgs[@]} -eq 0 ] && return 0
  echo "installing ${pkgs[*]}" >&2
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  if ! need apt-get; then
    echo "error: ${pkgs[*]} missing and apt-get is not available; install them by hand" >&2
    return 1
  fi
  $sudo apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null
}
