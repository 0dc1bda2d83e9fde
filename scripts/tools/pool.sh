#!/bin/bash
# A personal HTCondor pool in a Debian 13 chroot, for machines without an
# access point: the tests and `make pool` run the project's real DAG under
# real condor_dagman with it.
#
#     scripts/tools/pool.sh up          # build the chroot once, mount, start condor, wait for the slot
#     scripts/tools/pool.sh run CMD...  # run CMD in the chroot, in the current directory, as the pool user
#     scripts/tools/pool.sh status      # condor_status and condor_q
#     scripts/tools/pool.sh down        # stop condor, unmount (the chroot is kept for the next `up`)
#
# Debian 12 has no HTCondor package, Debian 13 (trixie) has `condor`: `up`
# makes $POOL_DIR/root with debootstrap (first time about 40 s; later calls
# reuse it, marker $POOL_DIR/root/.imaging-pool-complete, and take 2-3 s), mounts /proc,
# /sys, /dev and bind-mounts read-write every directory of $POOL_BIND at the
# same absolute path, so run directories, /work/main/.venv and the Python it
# points into (/root/.pyenv) work inside unchanged.  The pool's configuration
# is htc/pool/condor_config.
#
# condor_submit refuses to run as root, so the daemons and every `run` command
# run as the chroot's user `imgpool` (uid $POOL_UID) inside a user namespace
# (unshare --user) mapping that uid to the caller's host uid: condor sees an
# unprivileged personal pool, while jobs read and write files exactly as the
# caller (root) does, so a root-owned run directory needs no chown.  `run`
# passes on only IMAGING_PYTHON, CASASITECONFIG, CASA_LOGDIR and TERM.  The
# collector listens on 127.0.0.1:$POOL_PORT (9618 unless set), which `up` writes
# into the configuration it installs: one pool per owner and port.
#
# Only the owner gets in (issue 18): every connection authenticates with
# HTCondor's filesystem (FS) authentication in the pool's own directory
# /var/lib/imaging-pool/auth (mode 0700, the caller's), and authorization names
# only imgpool, which is what the caller's host uid is in the daemons' user
# namespace (htc/pool/condor_config).  Another local user cannot create the
# directory FS asks for, so HTCondor refuses their condor_submit, condor_reconfig
# or condor_off; CLAIMTOBE is not accepted.  $POOL_DIR (the chroot, aponly's run
# directories) and the pool's directories in the chroot are the caller's, mode
# 0700: no other user reads or writes them.  No token or password exists to leak.
#
# A second execute node, `isolated`, stands for a pool without a shared
# filesystem: its own condor_master (startd only, htc/pool/condor_config_isolated)
# runs in a mount namespace of its own in which $POOL_DIR/aponly -- the access
# point's run directories -- and /tmp (unless the project is there) are empty, so its jobs see nothing of a
# run directory there and must get their files by HTCondor's file transfer.  It
# runs only jobs with should_transfer_files = YES; the first node only the others.
#
# Environment: POOL_DIR (default /var/tmp/imaging-pool), POOL_BIND (default: this
# project's directory, /tmp, $POOL_DIR/aponly and the installation of the venv's Python), POOL_MIRROR (default: the host's Debian mirror),
# POOL_TIMEOUT (seconds `up` waits for the slots, default 120), POOL_UID (1000),
# POOL_PORT (the collector's port on 127.0.0.1, default 9618; `up` installs it, and
# `run`/`status` reach the pool `up` made with the same POOL_DIR whatever it is).
set -euo pipefail

POOL_DIR=${POOL_DIR:-/var/tmp/imaging-pool}
POOL_PORT=${POOL_PORT:-9618}
[[ $POOL_PORT =~ ^[0-9]+$ ]] && ((POOL_PORT > 0 && POOL_PORT < 65536)) ||
    { echo "pool.sh: POOL_PORT must be a port number, not '$POOL_PORT'" >&2; exit 1; }
mkdir -p -m 700 "$POOL_DIR/aponly" 2>/dev/null || true
PROJECT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
PYHOME=$(readlink -f "$PROJECT/.venv/bin/python" 2>/dev/null | sed 's|/bin/[^/]*$||' || true)
# The project, /tmp (test run directories), aponly (run directories the isolated
# node cannot see) and the installation the venv's Python lives in.
APONLY=$POOL_DIR/aponly   # run directories only the access point sees
POOL_BIND=${POOL_BIND:-$PROJECT:/tmp:$APONLY${PYHOME:+:$PYHOME}}
POOL_TIMEOUT=${POOL_TIMEOUT:-120}
POOL_UID=${POOL_UID:-1000}
ROOT=$POOL_DIR/root
MARKER=$ROOT/.imaging-pool-complete
PIDFILE=$POOL_DIR/condor_master.pid
CONFIG=/etc/imaging-pool/condor_config
ISOLATED_CONFIG=/etc/imaging-pool/condor_config_isolated
ISOLATED_PIDFILE=$POOL_DIR/condor_master_isolated.pid
TEMPLATE=$PROJECT/htc/pool/condor_config
PACKAGES="condor python3 procps"

die() { echo "pool.sh: $*" >&2; exit 1; }
say() { echo "pool.sh: $*" >&2; }

# ---- the chroot

host_mirror() {
    local m
    m=$(grep -hoE '^(URIs:|deb) +[^ ]*' /etc/apt/sources.list /etc/apt/sources.list.d/*.sources \
            /etc/apt/sources.list.d/*.list 2>/dev/null | awk '{print $2}' \
            | grep -E '/debian/?$' | head -n1 || true)
    echo "${POOL_MIRROR:-${m:-http://deb.debian.org/debian}}"
}

ensure_debootstrap() {
    command -v debootstrap >/dev/null && return
    say "installing debootstrap on the host"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null
}

build_chroot() {
    [[ -e $MARKER ]] && return
    ensure_debootstrap
    if [[ ! -x $ROOT/usr/bin/apt-get || -d $ROOT/debootstrap ]]; then
        unmount_all
        ! mounted_under_root || die "mounts left under $ROOT: not removing it"
        rm -rf --one-file-system "$ROOT"
        say "debootstrap trixie into $ROOT from $(host_mirror)"
        debootstrap --variant=minbase trixie "$ROOT" "$(host_mirror)" >"$POOL_DIR/debootstrap.log" 2>&1 \
            || die "debootstrap failed, see $POOL_DIR/debootstrap.log"
    fi
    mount_system
    say "installing $PACKAGES in the chroot"
    chroot "$ROOT" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        $PACKAGES >"$POOL_DIR/apt.log" 2>&1 || die "apt-get install failed, see $POOL_DIR/apt.log"
    setup_user
    touch "$MARKER"
}

setup_user() {
    grep -q '^imgpool:' "$ROOT/etc/passwd" || {
        echo "imgpool:x:$POOL_UID:$POOL_UID:imaging pool:/home/imgpool:/bin/bash" >>"$ROOT/etc/passwd"
        echo "imgpool:x:$POOL_UID:" >>"$ROOT/etc/group"
    }
    mkdir -p "$ROOT/home/imgpool"
    # The user must traverse /root to reach the bound /root/.pyenv.
    chmod 711 "$ROOT/root"
}

install_config() {
    [[ -r $TEMPLATE ]] || die "missing $TEMPLATE"
    mkdir -p "$ROOT/etc/imaging-pool"
    mkdir -p "$ROOT"/var/lib/imaging-pool/{log,spool,execute,lock,run,auth}
    mkdir -p "$ROOT"/var/lib/imaging-pool/isolated/{log,spool,execute,lock,run}
    # The configuration is no secret (0644); its last line is this pool's port.
    install -m 644 "$TEMPLATE" "$ROOT$CONFIG"
    echo "POOL_PORT = $POOL_PORT" >>"$ROOT$CONFIG"
    install -m 644 "${TEMPLATE}_isolated" "$ROOT$ISOLATED_CONFIG"
    # Owned by the caller (in the user namespace: imgpool) and closed to every
    # other user: FS authentication's directory (auth) among them.
    chown -R "$(id -u):$(id -g)" "$ROOT/var/lib/imaging-pool" "$ROOT/home/imgpool"
    chmod 700 "$ROOT/var/lib/imaging-pool" "$ROOT/var/lib/imaging-pool/auth" "$ROOT/home/imgpool"
    cp /etc/hosts "$ROOT/etc/hosts"   # condor must resolve the host name
    cp /etc/ssl/certs/ca-certificates.crt "$ROOT/etc/ssl/certs/" 2>/dev/null || true
}

# ---- mounts

# The POOL_BIND directories, less those inside another one (seen through it anyway).
bind_dirs() {
    local all d e
    all=$(tr ':' '\n' <<<"$POOL_BIND" | grep -v '^$' | sed 's|/*$||' | sort -u || true)
    while read -r d; do
        [[ -n $d ]] || continue
        for e in $all; do [[ $d == "$e"/* ]] && continue 2; done
        echo "$d"
    done <<<"$all"
}

mount_one() {   # mount_one TARGET-INSIDE MOUNT-ARGS...
    local target=$ROOT$1
    shift
    mkdir -p "$target"
    mountpoint -q "$target" || mount "$@" "$target"
}

mount_system() {
    mount_one /proc -t proc proc
    mount_one /sys -t sysfs sysfs
    mount_one /dev --bind /dev
    mount_one /dev/pts --bind /dev/pts
}

mount_binds() {
    local d
    while read -r d; do
        [[ -d $d ]] || die "POOL_BIND: $d is not a directory"
        mount_one "$d" --bind "$d"
    done < <(bind_dirs)
}

# Mounts under $ROOT, the latest first (so a mount hiding another goes before it).
mounts_under_root() { awk -v r="$ROOT/" 'index($2, r) == 1 {print $2}' /proc/self/mounts | tac; }
mounted_under_root() { [[ -n $(mounts_under_root) ]]; }

unmount_all() {   # every mount under $ROOT, in reverse mount order
    local m
    while read -r m; do
        umount "$m" 2>/dev/null || umount -l "$m"
    done < <(mounts_under_root)
}

# ---- condor

# in_pool DIR CMD...: CMD as imgpool in the chroot, in DIR, with the pool's environment.
in_pool() {
    local dir=$1
    shift
    unshare --user --map-user="$POOL_UID" --map-group="$POOL_UID" --root="$ROOT" --wd="$dir" \
        /usr/bin/env -i HOME=/home/imgpool USER=imgpool LOGNAME=imgpool \
        PATH=/usr/sbin:/usr/bin:/sbin:/bin CONDOR_CONFIG=${POOL_CONFIG:-$CONFIG} LANG=C.UTF-8 \
        ${TERM:+TERM=$TERM} ${IMAGING_PYTHON:+IMAGING_PYTHON=$IMAGING_PYTHON} \
        ${CASASITECONFIG:+CASASITECONFIG=$CASASITECONFIG} ${CASA_LOGDIR:+CASA_LOGDIR=$CASA_LOGDIR} \
        "$@"
}

installed_port() { sed -n 's/^POOL_PORT = //p' "$ROOT$CONFIG" 2>/dev/null | tail -n1; }

master_alive() {   # master_alive [PIDFILE]: the pid we started, still a condor_master
    local pidfile=${1:-$PIDFILE}
    [[ -s $pidfile ]] && [[ $(cat "/proc/$(cat "$pidfile")/comm" 2>/dev/null) == condor_master ]]
}

start_master() {   # start_master [PIDFILE LOCAL_DIR]  (LOCAL_DIR inside the chroot)
    local pidfile=${1:-$PIDFILE} dir=${2:-/var/lib/imaging-pool}
    master_alive "$pidfile" && return
    rm -f "$ROOT$dir/master.pid"
    in_pool / condor_master -pidfile "$dir/master.pid" 9>&-   # not the lock
    local i
    for i in $(seq 50); do
        [[ -s $ROOT$dir/master.pid ]] && break
        sleep 0.1
    done
    cp "$ROOT$dir/master.pid" "$pidfile"
}

# The isolated execute node: a condor_master in a mount namespace of its own
# (pool.sh calls itself there), with the access point's run directories hidden.
start_isolated() {
    master_alive "$ISOLATED_PIDFILE" && return
    unshare --mount --propagation private -- "$PROJECT/scripts/tools/pool.sh" _isolated
}

cmd__isolated() {   # (inside the new mount namespace)
    local d
    for d in "$APONLY" /tmp; do
        [[ $PROJECT == "$d"/* ]] && continue     # (the project's .venv must stay in reach)
        mkdir -p "$ROOT$d"
        mount -t tmpfs -o size=64m,mode=1777 hidden "$ROOT$d"
    done
    POOL_CONFIG=$ISOLATED_CONFIG start_master "$ISOLATED_PIDFILE" /var/lib/imaging-pool/isolated
}

wait_for_slots() {
    local t0=$SECONDS
    until [[ $(in_pool / condor_status -af Name 2>/dev/null | grep -c slot) -ge 2 ]]; do
        ((SECONDS - t0 < POOL_TIMEOUT)) ||
            die "not both nodes' slots in condor_status after ${POOL_TIMEOUT}s; see" \
                "$ROOT/var/lib/imaging-pool/log/ and $ROOT/var/lib/imaging-pool/isolated/log/"
        sleep 1
    done
    until in_pool / condor_q -totals >/dev/null 2>&1; do
        ((SECONDS - t0 < POOL_TIMEOUT)) || die "schedd not answering after ${POOL_TIMEOUT}s"
        sleep 1
    done
}

stop_master() {   # stop_master [PIDFILE]
    local pidfile=${1:-$PIDFILE} pid i
    master_alive "$pidfile" || { rm -f "$pidfile"; return 0; }
    pid=$(cat "$pidfile")
    kill -TERM "$pid" 2>/dev/null || true   # the master's graceful shutdown of all daemons
    for i in $(seq 120); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.5
    done
    if kill -0 "$pid" 2>/dev/null; then
        say "condor_master $pid did not stop in 60 s: SIGQUIT"
        kill -QUIT "$pid" 2>/dev/null || true
        sleep 2
    fi
    rm -f "$pidfile"
}

# ---- subcommands

cmd_up() {
    [[ $(id -u) == 0 ]] || die "up needs root (debootstrap, mount)"
    chmod 700 "$POOL_DIR" "$APONLY"   # (also a POOL_DIR made before issue 18)
    if master_alive && [[ $(installed_port) != "$POOL_PORT" ]]; then
        die "the pool in $POOL_DIR is up on port $(installed_port): pool.sh down first"
    fi
    build_chroot
    mount_system
    mount_binds
    install_config
    start_master
    start_isolated
    wait_for_slots
    say "pool up on 127.0.0.1:$POOL_PORT: $(in_pool / condor_status -af Name Cpus Memory | tr '\n' ';')"
}

cmd_down() {
    stop_master "$ISOLATED_PIDFILE"
    stop_master
    unmount_all
    say "pool down"
}

cmd_status() {
    master_alive || die "pool is not up (scripts/tools/pool.sh up)"
    in_pool / condor_status
    in_pool / condor_q -allusers -nobatch
}

cmd_run() {
    (($# > 0)) || die "usage: pool.sh run CMD..."
    master_alive || die "pool is not up (scripts/tools/pool.sh up)"
    local here d ok=
    here=$(pwd -P)
    while read -r d; do
        [[ $here == "$d" || $here == "$d"/* ]] && ok=1
    done < <(bind_dirs)
    [[ -n $ok ]] || die "current directory $here is not under POOL_BIND ($POOL_BIND)"
    in_pool "$here" "$@"
}

lock() {   # one up/down at a time (tests may run in parallel)
    mkdir -p "$POOL_DIR"
    exec 9>"$POOL_DIR/.lock"
    flock 9
}

case ${1:-} in
    up) lock; cmd_up ;;
    down) lock; cmd_down ;;
    status) cmd_status ;;
    run) shift; cmd_run "$@" ;;
    _isolated) cmd__isolated ;;
    *) die "usage: pool.sh up|down|status|run CMD..." ;;
esac
