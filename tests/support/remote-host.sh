#!/usr/bin/env bash
# A throwaway "second machine" on this one, for tests that drive a remote
# Docker Engine over SSH (DOCKER_HOST=ssh://root@ADDR). Needs root, iproute2,
# util-linux, docker.io (dockerd, containerd, runc) and openssh-server.
#
#   remote-host.sh up DIR [IMAGE...]  DIR: an existing empty directory. Starts a
#       network namespace (veth on a private /30) whose own mount namespace
#       (own /run, so /var/run/docker.sock there is the remote engine's) runs a
#       dockerd and an sshd; copies each IMAGE from the caller's engine into it;
#       writes DIR/env (NS ADDR HOST_ADDR DOCKER_HOST SSH_BIN_DIR REMOTE_SOCK
#       DOCKERD_PID SSHD_PID), DIR/ssh_config and DIR/bin/ssh (runs ssh with that config: put
#       DIR/bin first on PATH). Waits until `docker -H ssh://root@ADDR info`
#       answers. On failure prints the log tails, cleans up, exits 1.
#   remote-host.sh down DIR      Stops and removes all of it (idempotent).
#   remote-host.sh drop-ssh DIR  Kills every ssh session (not the listener), as
#       a dropped connection would end them.
# shellcheck disable=SC2086 # PID lists ($pids, $kids) are split on purpose
set -euo pipefail

die() { echo "remote-host: $*" >&2; exit 1; }

# descendants PID...: the PIDs and all their descendants.
descendants() {
  ps -e -o pid= -o ppid= | awk -v roots="$*" '
    BEGIN { n = split(roots, r, " "); for (i = 1; i <= n; i++) s[r[i]] = 1 }
    { p[NR] = $1; pp[NR] = $2 }
    END { do { c = 0; for (i in p) if (!(p[i] in s) && (pp[i] in s)) { s[p[i]] = 1; c = 1 } } while (c)
          for (k in s) print k }'
}

# gone PID...: none of the PIDs runs (zombies hold no namespace, socket or
# mount); reaped PID...: none is left at all (PID 1 here reaps slowly).
gone() { local IFS=,; ! ps -o stat= -p "$*" | grep -qv '^Z'; }
reaped() { local IFS=,; ! ps -o stat= -p "$*" >/dev/null; }

# poll SECS CMD...: runs CMD every 0.1 s until it succeeds (true) or SECS pass.
poll() {
  local end=$((SECONDS + $1)); shift
  until "$@" >/dev/null 2>&1; do [ $SECONDS -lt "$end" ] || return 1; sleep 0.1; done
}

# The remote engine's cgroup directories (cgroup-parent $NS), in every hierarchy.
cgroup_dirs() { find /sys/fs/cgroup -maxdepth 2 -type d -name "$NS" 2>/dev/null || true; }

# ns_pids: every process of the remote host: those in its netns (dockerd,
# containerd, shims, sshd and its sessions) or on their way there (up's
# launcher), those in its engine's cgroups (containers: own netns), and their
# descendants.
ns_pids() {
  local pids d
  pids="$(ip netns pids "$NS" 2>/dev/null || true) $(pgrep -f "^(setsid )?ip netns exec $NS " || true)"
  for d in $(cgroup_dirs); do pids+=" $(find "$d" -name cgroup.procs -exec cat {} + 2>/dev/null || true)"; done
  [ -z "${pids// /}" ] || descendants $pids
}

down() {
  local dir=$1 pids d killed=""
  [ -f "$dir/env" ] || return 0 # up claimed nothing
  # shellcheck disable=SC1091
  . "$dir/env"
  # Kill it all at once, like pulling the plug: nothing of it is kept, and
  # killing containers before their shims leaves none to reparent.
  for _ in 1 2 3 4 5; do
    pids=$(ns_pids)
    [ -n "$pids" ] || break
    killed+=" $pids"
    kill -KILL $pids 2>/dev/null || true
    poll 10 gone $pids || true
  done
  pids=$(ns_pids)
  [ -z "$pids" ] || die "processes of $NS survived: $pids"
  [ -z "$killed" ] || poll 5 reaped $killed || true # best effort: PID 1 reaps them
  # The mount namespace (its /run, overlay mounts, container netns) died with
  # its last process; the veth pair dies with the netns.
  [ ! -e "/run/netns/$NS" ] || ip netns del "$NS"
  ip link del "${NS}h" 2>/dev/null || true
  for d in $(cgroup_dirs); do find "$d" -depth -type d -exec rmdir {} + 2>/dev/null || true; done
  rm -rf "$dir/data" "$dir/exec" "$dir/docker.sock"
}

up() {
  local dir=$1 h i x y ns addr host_addr cgroups pid deadline img; shift
  [ -z "$(ls -A "$dir")" ] || die "$dir is not empty"
  # It goes into configs unquoted, and into unix socket paths (108 bytes).
  case $dir in *[[:space:]\"\'\\]*) die "DIR may not hold spaces or quotes" ;; esac
  [ ${#dir} -le 64 ] || die "DIR is too long for the sockets under it (at most 64 characters)"
  command -v dockerd >/dev/null || die "dockerd missing (apt-get install docker.io)"
  if [ ! -x /usr/sbin/sshd ]; then
    { apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive \
      apt-get install -y -qq --no-install-recommends openssh-server >/dev/null; } || die "could not install openssh-server"
  fi
  # shellcheck disable=SC2154 # rc is assigned in the trap
  trap 'rc=$?; if [ $rc -ne 0 ]; then logs "$dir"; down "$dir" || true; fi; exit $rc' EXIT
  # Claim an index, starting from a hash of DIR: netns rh<i>, veth rh<i>h,
  # 10.251.X.Y/30. `ip netns add` is atomic, so parallel ups never share one.
  h=$(cksum <<<"$dir" | cut -d' ' -f1)
  ns=""
  for t in $(seq 0 99); do
    i=$(((h + t) % 16384)) x=$((i / 64)) y=$((i % 64 * 4))
    ns=rh$i host_addr=10.251.$x.$((y + 1)) addr=10.251.$x.$((y + 2))
    [ -z "$(ip -4 route show "10.251.$x.$y/30")" ] || { ns=""; continue; } # subnet used by something else
    ip netns add "$ns" 2>/dev/null || { ns=""; continue; }
    printf '%s=%q\n' NS "$ns" >"$dir/env"
    ip link add "${ns}h" type veth peer name eth0 netns "$ns" 2>/dev/null && break
    ip netns del "$ns"; rm -f "$dir/env"; ns=""
  done
  [ -n "$ns" ] || die "no free namespace index"
  ip addr add "$host_addr/30" dev "${ns}h" && ip link set "${ns}h" up
  ip -n "$ns" addr add "$addr/30" dev eth0 && ip -n "$ns" link set eth0 up && ip -n "$ns" link set lo up
  printf '%s=%q\n' ADDR "$addr" HOST_ADDR "$host_addr" DOCKER_HOST "ssh://root@$addr" \
    SSH_BIN_DIR "$dir/bin" REMOTE_SOCK "unix://$dir/docker.sock" >>"$dir/env"

  # SSH: host key, client key, server and client configs, the ssh wrapper.
  ssh-keygen -q -t ed25519 -N '' -C remote-host -f "$dir/ssh_host_ed25519_key"
  ssh-keygen -q -t ed25519 -N '' -C remote-host-client -f "$dir/id_ed25519"
  cp "$dir/id_ed25519.pub" "$dir/authorized_keys"
  mkdir -p "$dir/remote-docker-config" "$dir/etc-docker" "$dir/bin"
  cat >"$dir/sshd_config" <<EOF
ListenAddress $addr:22
HostKey $dir/ssh_host_ed25519_key
AuthorizedKeysFile $dir/authorized_keys
PidFile $dir/sshd.pid
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
MaxStartups 100
MaxSessions 100
LogLevel VERBOSE
# The remote docker CLI (dial-stdio) must not read the host's ~/.docker.
SetEnv DOCKER_CONFIG=$dir/remote-docker-config
Subsystem sftp internal-sftp
EOF
  cat >"$dir/ssh_config" <<EOF
Host $addr
  User root
  IdentityFile $dir/id_ed25519
  IdentitiesOnly yes
  UserKnownHostsFile $dir/known_hosts
  StrictHostKeyChecking accept-new
  BatchMode yes
  LogLevel ERROR
  ConnectTimeout 5
  ServerAliveInterval 2
  ServerAliveCountMax 3
EOF
  printf '#!/bin/sh\nexec /usr/bin/ssh -F %q "$@"\n' "$dir/ssh_config" >"$dir/bin/ssh"
  chmod 755 "$dir/bin/ssh"
  # Storage driver left to dockerd: overlay2 where it works, else vfs.
  cat >"$dir/daemon.json" <<EOF
{"data-root": "$dir/data", "exec-root": "$dir/exec", "pidfile": "$dir/dockerd.pid",
 "hosts": ["unix:///var/run/docker.sock", "unix://$dir/docker.sock"], "cgroup-parent": "$ns",
 "log-level": "warn"}
EOF

  # `ip netns exec` gives a fresh /sys without the cgroup mounts: mount the
  # host's cgroup hierarchies again (the same ones: v1, hybrid or v2).
  cgroups=$(findmnt -rn -R -o TARGET,FSTYPE,OPTIONS /sys/fs/cgroup || true)
  # shellcheck disable=SC2016
  setsid ip netns exec "$ns" unshare --mount --propagation private bash -c 'set -eu
    mount -t tmpfs -o mode=755 tmpfs /run # own /var/run/docker.sock, /run/containerd, /run/sshd
    mkdir -m 755 /run/sshd
    mount --bind "$1/etc-docker" /etc/docker # own key.json (engine ID), certs.d
    while read -r t f o; do [ -z "$t" ] || { mkdir -p "$t"; mount -t "$f" -o "$o" "$f" "$t"; }; done <<<"$2"
    /usr/sbin/sshd -f "$1/sshd_config" -E "$1/sshd.log"
    exec dockerd --config-file "$1/daemon.json"' remote-host "$dir" "$cgroups" \
    </dev/null >>"$dir/dockerd.log" 2>&1 &
  pid=$! && disown "$pid" # becomes dockerd (every step execs)

  # Wait (60 s in all) for the engine on its socket, then through ssh.
  deadline=$((SECONDS + 60))
  until docker -H "unix://$dir/docker.sock" info >/dev/null 2>&1; do
    kill -0 "$pid" 2>/dev/null || die "dockerd exited"
    [ $SECONDS -lt $deadline ] || die "dockerd did not answer within 60 s"
    sleep 0.1
  done
  printf '%s=%q\n' DOCKERD_PID "$(cat "$dir/dockerd.pid")" SSHD_PID "$(cat "$dir/sshd.pid")" >>"$dir/env"
  until PATH=$dir/bin:$PATH timeout 10 docker -H "ssh://root@$addr" info >/dev/null 2>&1; do
    [ $SECONDS -lt $deadline ] || die "docker -H ssh://root@$addr info did not answer within 60 s"
    sleep 0.2
  done
  for img in "$@"; do
    docker save "$img" | docker -H "unix://$dir/docker.sock" load -q >/dev/null || die "could not copy image $img"
  done
}

# logs DIR: the tails of the logs, for a failed up.
logs() { local f; for f in "$1"/dockerd.log "$1"/sshd.log; do [ ! -s "$f" ] || tail -n 25 -v "$f" >&2; done; }

drop_ssh() {
  local dir=$1 kids
  kids=$(pgrep -P "$(cat "$dir/sshd.pid")" || true) # one per connection
  [ -n "$kids" ] || return 0
  kids=$(descendants $kids)
  kill -KILL $kids 2>/dev/null || true
  poll 5 gone $kids || die "ssh sessions survived: $kids"
}

[ $# -ge 2 ] || die "usage: $0 up DIR [IMAGE...] | down DIR | drop-ssh DIR"
cmd=$1 dir=$2; shift 2
[ -d "$dir" ] || { [ "$cmd" = down ] && exit 0; die "$dir is not a directory"; }
dir=$(cd "$dir" && pwd -P)
case $cmd in
  up) up "$dir" "$@" ;;
  down) down "$dir" ;;
  drop-ssh) drop_ssh "$dir" ;;
  *) die "unknown command $cmd" ;;
esac
