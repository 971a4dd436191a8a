# shellcheck shell=bash
# Shared by every phase script: settings from the environment, logging, deadlines,
# host key pins and the OpenSSH helpers. Sourced, never run.
#
# Settings (all set by the NixosInstall construct through local-exec `environment`;
# none of them is secret — the passphrase is read at apply time from NI_PASSPHRASE_*):
#   NI_HOST NI_PORT NI_USER NI_UNLOCK_PORT NI_HOST_NAME NI_HOSTS_DIR NI_TIMEOUT
#   NI_IDENTITY_FILE (empty: ssh-agent)  NI_FIRST_HOST_KEY  NI_TRUST_ON_FIRST_USE
#   NI_RESOURCES ("probe=ADDRESS kexec=ADDRESS …": the phases' Terraform addresses, for hints)

set -euo pipefail
umask 077

PHASE=${PHASE:?PHASE must be set by the phase script}
: "${NI_HOST:?} ${NI_PORT:?} ${NI_USER:?} ${NI_UNLOCK_PORT:?} ${NI_HOST_NAME:?} ${NI_HOSTS_DIR:?} ${NI_TIMEOUT:?}"
NI_IDENTITY_FILE=${NI_IDENTITY_FILE:-}
NI_FIRST_HOST_KEY=${NI_FIRST_HOST_KEY:-}
NI_TRUST_ON_FIRST_USE=${NI_TRUST_ON_FIRST_USE:-false}
NI_RESOURCES=${NI_RESOURCES:-}

HOST_DIR="$NI_HOSTS_DIR/$NI_HOST_NAME"
PIN_DIR="$HOST_DIR/pins"
PHASE_STARTED=${EPOCHREALTIME:-$SECONDS}
DEADLINE=$((SECONDS + NI_TIMEOUT))

# A short private directory for control sockets and temporary files: socket paths
# must stay under ~100 characters, so it lives in TMPDIR, not in the stack dir.
WORK_DIR=$(mktemp -d "${TMPDIR:-/tmp}/ni.XXXXXX")
cleanup() {
  local role
  # No output and no failure may stop the cleanup: the reader of stderr may be gone
  # (see below), and what is left to end must still be ended.
  set +e
  trap '' PIPE INT TERM HUP
  # A remote job whose ssh did not come back normally (interrupt, deadline) is still
  # running on the host: end it while its master is up.
  end_remote_jobs
  for role in base installer initrd installed; do ssh_close "$role"; done
  report_transfer || true
  rm -rf "$WORK_DIR"
}
trap cleanup EXIT
# On Ctrl-C (or a cancelled job) Terraform kills the shell that started this script,
# not this script, whose output pipe is then closed. Writing to it raises SIGPIPE:
# end through the EXIT trap (remote job ended, masters closed, directory removed)
# instead of dying outright. A terminal's Ctrl-C reaches this script too (INT), and
# watch_phase sends TERM when the parent is gone: the same way out.
trap 'exit 141' PIPE
trap 'log "interrupted (SIGINT): ending the remote command and the SSH connections"; exit 130' INT
trap 'log "interrupted (SIGTERM): ending the remote command and the SSH connections"; exit 143' TERM
trap 'log "interrupted (SIGHUP): ending the remote command and the SSH connections"; exit 129' HUP
# Who owns this directory, for reap_stale_work_dirs of a later run.
printf '%s %s %s\n' "$$" "$NI_HOST_NAME" "$PHASE" >"$WORK_DIR/owner"

# pause SECONDS: wait without starting a process: a read that times out on a FIFO that
# nobody writes to (opened read-write, so the open does not block). Every process costs
# milliseconds of CPU (about 5 ms a fork on the 2-core VM this is measured on), and a
# fleet's phases mostly wait: with `sleep`, the watcher's 1 s ticks alone were a fork a
# second a host. A trap also runs at once during a read, not after a child `sleep` ends.
mkfifo "$WORK_DIR/pause"
exec {PAUSE_FD}<>"$WORK_DIR/pause"
pause() {
  local _unused
  read -r -t "$1" -u "$PAUSE_FD" _unused || true
}

log() { printf '[%s %s] %s\n' "$NI_HOST_NAME" "$PHASE" "$*" >&2; }
die() {
  printf '[%s %s] error: %s\n' "$NI_HOST_NAME" "$PHASE" "$1" >&2
  shift
  local line
  for line in "$@"; do printf '[%s %s]   %s\n' "$NI_HOST_NAME" "$PHASE" "$line" >&2; done
  exit 1
}

# die_remote RC ROLE WHAT MESSAGE [HINT...]: stop after a remote command failed with exit
# code RC. ssh's own 255 means the connection failed or dropped, and 124 that the phase
# deadline cut it off: neither says the command refused anything, and the host keeps what
# it had done, so say that and how to resume instead of the command's own MESSAGE.
die_remote() {
  local rc=$1 role=$2 what=$3
  shift 3
  case "$rc" in
    255) die "the SSH connection to $NI_HOST:$(port_of_role "$role") ($role) was lost while $what (ssh exit 255)" \
      "the host keeps what was done so far; check the network and the host, then run terraform apply again: each phase first finds out what is already done" ;;
    124) die "timed out after $NI_TIMEOUT s (timeouts.$PHASE) while $what on $NI_HOST:$(port_of_role "$role") ($role)" \
      "check the host; raise timeouts.$PHASE if it is slow; then run terraform apply again" ;;
    *) die "$@" ;;
  esac
}

# set_left: the seconds left until the phase deadline (never below 0) in LEFT; the polls
# use it, to spare the subshell of $(remaining).
set_left() {
  LEFT=$((DEADLINE - SECONDS))
  [ "$LEFT" -gt 0 ] || LEFT=0
}
remaining() {
  set_left
  printf '%s' "$LEFT"
}

# The replace hint that every "run this next" message uses.
replace_hint() {
  local address
  address=$(printf '%s\n' "$NI_RESOURCES" | tr ' ' '\n' | sed -n "s/^$1=//p")
  printf 'terraform apply -replace=%s' "${address:-<the $1 phase resource>}"
}

# ---- host key pins --------------------------------------------------------------

# pin ROLE PUBKEY: remember the public host key of a role. A pin is never silently
# replaced by a different key.
pin() {
  local role=$1 key
  key=$(printf '%s\n' "$2" | awk '{print $1" "$2}')
  case "$key" in
    ssh-ed25519\ AAAA*) ;;
    *) die "the $role host key is not an ssh-ed25519 public key: '$2'" ;;
  esac
  mkdir -p "$PIN_DIR"
  if [ -s "$PIN_DIR/$role" ] && [ "$(cat "$PIN_DIR/$role")" != "$key" ]; then
    log "replacing the $role pin (a new $role session makes a new key)"
  fi
  printf '%s\n' "$key" >"$PIN_DIR/$role.tmp"
  mv "$PIN_DIR/$role.tmp" "$PIN_DIR/$role"
}

pinned() { read_pin "$1" && printf '%s\n' "$PIN"; }
# read_pin ROLE: the role's pin in PIN (empty, and status 1, when none is pinned), read
# without a process: the polls compare it with the offered key many times a phase.
read_pin() {
  PIN=""
  [ -s "$PIN_DIR/$1" ] || return 1
  IFS= read -r PIN <"$PIN_DIR/$1" || [ -n "$PIN" ]
}

# fingerprint KEY: the SHA256 fingerprint of a public key ("SHA256:…"), as ssh prints it.
fingerprint() {
  local _bits fp _rest
  read -r _bits fp _rest < <(printf '%s\n' "$1" | ssh-keygen -E sha256 -lf - 2>/dev/null) || true
  printf '%s\n' "$fp"
}

# pin_fingerprint ROLE: the fingerprint of the role's pin in PIN_FP (status 1 when none
# is pinned). Computed once a phase and a pin: the polls compare it many times, and a
# file in the phase's directory keeps it across the subshells they run in.
pin_fingerprint() {
  local role=$1 cache="$WORK_DIR/fp.$1" key="" fp=""
  PIN_FP=""
  read_pin "$role" || return 1
  if [ -s "$cache" ]; then
    { IFS= read -r key && IFS= read -r fp; } <"$cache" || true
  fi
  if [ "$key" != "$PIN" ] || [ -z "$fp" ]; then
    fp=$(fingerprint "$PIN")
    [ -n "$fp" ] || return 1
    printf '%s\n%s\n' "$PIN" "$fp" >"$cache"
  fi
  PIN_FP=$fp
}

# set_port ROLE: the port the role answers on in PORT (the initrd's sshd on the unlock
# port, every other role on NI_PORT); port_of_role prints it.
set_port() { if [ "$1" = initrd ]; then PORT=$NI_UNLOCK_PORT; else PORT=$NI_PORT; fi; }
port_of_role() {
  set_port "$1"
  printf '%s' "$PORT"
}

# set_known_hosts ROLE: KH, a known_hosts file that holds the role's pin and nothing
# else, so a connection for one role can never be satisfied by another role's key; PORT,
# the role's port. Written without a process: every command sent makes one.
set_known_hosts() {
  local role=$1
  set_port "$role"
  KH="$WORK_DIR/known_hosts.$role"
  read_pin "$role" || die "no host key is pinned for the $role role of $NI_HOST" \
    "the chain learns it in an earlier phase; run: $(replace_hint probe)"
  if [ "$PORT" = 22 ]; then
    printf '%s %s\n' "$NI_HOST" "$PIN" >"$KH"
  else
    printf '[%s]:%s %s\n' "$NI_HOST" "$PORT" "$PIN" >"$KH"
  fi
}

# set_scan_time: SCAN_T, the seconds one key scan may take: 5, or what is left of the
# phase (at least 1).
set_scan_time() {
  set_left
  SCAN_T=$LEFT
  [ "$SCAN_T" -gt 5 ] && SCAN_T=5
  [ "$SCAN_T" -lt 1 ] && SCAN_T=1
  return 0
}

# offered_key PORT: the ed25519 host key the host offers on PORT, or nothing: the whole
# key, for a pin (trust on first use, the archive check). ssh-keyscan sends no credential,
# so it is safe against an impostor.
offered_key() {
  local host type key rest
  set_scan_time
  while read -r host type key rest; do
    case "$host" in '#'*) continue ;; esac
    if [ "$type" = ssh-ed25519 ] && [ -n "$key" ]; then
      printf '%s %s\n' "$type" "$key"
      break
    fi
  done < <(ssh-keyscan -T "$SCAN_T" -t ed25519 -p "$1" "$NI_HOST" 2>/dev/null)
}

# scan_key PORT: the fingerprint of the ed25519 host key the host offers on PORT in
# OFFERED_FP, or nothing (down, or no such key). The polls' scan, many a phase, so it is
# cheap: ssh itself, stopped at the host key check (an empty known_hosts file and strict
# checking: it ends before authentication, so no credential or user name is sent, as
# with ssh-keyscan), preferring the classic curve25519 key exchange. ssh-keyscan cannot
# choose one and takes the post-quantum sntrup761x25519 that OpenSSH 9 prefers, which
# cost about 39 ms of CPU a scan here against 4 ms (docs/decisions/cheap-key-polls.md).
# Only the public host key is learnt, so nothing is lost; every connection that
# authenticates keeps ssh's default, post-quantum exchange. Bounded by timeout: at most
# 5 s, or what is left of the phase.
scan_key() {
  local line
  OFFERED_FP=""
  set_scan_time
  while IFS= read -r line; do
    line=${line%$'\r'} # ssh ends its log lines with CR LF
    case "$line" in
      "debug1: Server host key: ssh-ed25519 SHA256:"*)
        OFFERED_FP=${line##* }
        break ;;
    esac
  done < <(exec timeout --foreground -k 1 "$SCAN_T" ssh -v -F /dev/null -T -o BatchMode=yes \
    -o StrictHostKeyChecking=yes -o UserKnownHostsFile=/dev/null -o GlobalKnownHostsFile=/dev/null \
    -o CheckHostIP=no -o HostKeyAlgorithms=ssh-ed25519 -o KexAlgorithms=^curve25519-sha256 \
    -o FingerprintHash=sha256 -o ConnectTimeout="$SCAN_T" -o IdentitiesOnly=yes -o IdentityAgent=none \
    -p "$1" "$NI_HOST" true </dev/null 2>&1)
}

# current_role: which role the host answers as, judged by the key it offers.
# Prints a role, "down", or "unknown <fingerprint> <port>".
current_role() {
  local role port
  for port in "$NI_PORT" "$NI_UNLOCK_PORT"; do
    scan_key "$port"
    [ -n "$OFFERED_FP" ] || continue
    for role in installed initrd installer base; do
      set_port "$role"
      [ "$PORT" = "$port" ] || continue
      if pin_fingerprint "$role" && [ "$PIN_FP" = "$OFFERED_FP" ]; then
        printf '%s' "$role"
        return 0
      fi
    done
    printf 'unknown %s %s' "$OFFERED_FP" "$port"
    return 0
  done
  printf 'down'
}

stop_on_unknown_key() {
  # $1 = output of current_role
  case "$1" in
    unknown*)
      # split "unknown FINGERPRINT PORT" into words on purpose
      # shellcheck disable=SC2086
      set -- $1
      die "$NI_HOST:$3 offers host key $2, which is none of the keys this chain pinned" \
        "pinned: $(for r in base installer initrd installed; do k=$(pinned "$r" || true); [ -n "$k" ] && printf '%s=%s ' "$r" "$(fingerprint "$k")"; done)" \
        "this may be a man in the middle; nothing secret was sent" \
        "if the host was reinstalled outside this chain, remove $PIN_DIR and run: $(replace_hint probe)" ;;
  esac
}

# ---- SSH ------------------------------------------------------------------------

ssh_base_opts() {
  local role=$1
  set_known_hosts "$role"
  SSH_OPTS=(-F /dev/null -T
    -o BatchMode=yes -o StrictHostKeyChecking=yes -o CheckHostIP=no
    -o UserKnownHostsFile="$KH" -o GlobalKnownHostsFile=/dev/null
    -o HostKeyAlgorithms=ssh-ed25519 -o UpdateHostKeys=no
    -o ConnectTimeout=10 -o ServerAliveInterval=5 -o ServerAliveCountMax=3
    -o ControlPath="$WORK_DIR/ctl-$role"
    -p "$PORT" -l "$NI_USER")
  if [ -n "$NI_IDENTITY_FILE" ]; then
    SSH_OPTS+=(-o IdentitiesOnly=yes -o IdentityAgent=none -i "$NI_IDENTITY_FILE")
  fi
}

# set_master_logs ROLE: MASTER_LOGS, how many masters of the role this phase opened
# (one VERBOSE log each, so a master that had to be replaced is counted and its bytes are
# kept), and MASTER_LOG, the newest one's log. Counted with a glob, not a process.
set_master_logs() {
  local logs=("$WORK_DIR/master-$1".*.log)
  MASTER_LOGS=0
  [ -e "${logs[0]}" ] && MASTER_LOGS=${#logs[@]}
  MASTER_LOG="$WORK_DIR/master-$1.$((MASTER_LOGS > 0 ? MASTER_LOGS : 1)).log"
}

# master_pid ROLE: the PID of the role's master in MASTER_PID (status 1 when none was
# started by this phase), read without a process.
master_pid() {
  MASTER_PID=""
  [ -s "$WORK_DIR/master-$1.pid" ] || return 1
  IFS= read -r MASTER_PID <"$WORK_DIR/master-$1.pid" || [ -n "$MASTER_PID" ]
}

# ssh_open ROLE: one multiplexed master connection for the role, checked against its pin.
# The master is a child of this phase, in its process group, not a daemon (ssh -f and
# ControlPersist would detach it into a session of its own): when the phase ends, is
# interrupted or is killed outright with its process group, the authenticated root
# connection ends with it. It is up once it answers `-O check` (after authentication).
# A master can die under a phase (the host dropped the connection, or the master was
# killed): its socket file then stays behind, and every later session would print
# "Control socket connect: Connection refused" and fall back to a connection of its own.
# So a socket counts only while its master runs; a stale one is replaced. (Whether it
# runs is asked with kill -0, not with `ssh -O check`: every command sent passes here,
# and a process a command is what a fleet's deploy machine pays for. Should the PID have
# been reused, the session finds no master behind the socket and makes its own
# connection, pinned all the same.)
# (ssh takes the first value given for an option: LogLevel is set here, not in the base options.)
ssh_open() {
  local role=$1 ctl="$WORK_DIR/ctl-$1" log pid until
  if [ -S "$ctl" ]; then
    if master_pid "$role"; then
      kill -0 "$MASTER_PID" 2>/dev/null && return 0
    elif ssh -S "$ctl" -O check _ >/dev/null 2>&1; then
      return 0
    fi
    log "the $role master connection is gone (stale control socket); opening a new one"
    rm -f "$ctl"
  fi
  set_master_logs "$role"
  log="$WORK_DIR/master-$role.$((MASTER_LOGS + 1)).log"
  ssh_base_opts "$role"
  # No output to our stdout: a command substitution around ssh_run would wait for it.
  ssh "${SSH_OPTS[@]}" -o ControlMaster=yes -o ControlPersist=no \
    -o LogLevel=VERBOSE -E "$log" -N "$NI_HOST" </dev/null >/dev/null 2>&1 &
  pid=$!
  printf '%s\n' "$pid" >"$WORK_DIR/master-$role.pid"
  set_left
  until=$((SECONDS + (LEFT > 30 ? 30 : LEFT + 1)))
  # The master makes its control socket only once it has authenticated: wait for the
  # file (a test, no process), then ask the master once.
  until [ -S "$ctl" ] && ssh -S "$ctl" -O check _ >/dev/null 2>&1; do
    if ! kill -0 "$pid" 2>/dev/null || [ "$SECONDS" -ge "$until" ]; then
      kill "$pid" 2>/dev/null || true
      grep -v '^debug' "$log" | tail -n 5 >&2 || true
      if grep -q 'REMOTE HOST IDENTIFICATION HAS CHANGED\|Host key verification failed' "$log"; then
        die "the $role host key of $NI_HOST changed between two phases; stopped before anything secret was sent" \
          "if the host was reinstalled outside this chain, remove $PIN_DIR and run: $(replace_hint probe)"
      fi
      die "could not open an SSH connection to $NI_USER@$NI_HOST:$(port_of_role "$role") as the $role role" \
        "check that the host is up, the port is open and the SSH identity is accepted"
    fi
    pause 0.1
  done
  log "ssh master connection opened ($role, $NI_HOST:$(port_of_role "$role"))"
}

# ssh_run ROLE COMMAND...: run a command through the role's master, bounded by the phase
# deadline. (--foreground: ssh stays in the phase's process group, so a terminal's Ctrl-C
# and a kill of the group reach it.)
ssh_run() {
  local role=$1
  shift
  ssh_open "$role"
  ssh_base_opts "$role"
  set_left
  timeout --foreground "$((LEFT + 1))" ssh "${SSH_OPTS[@]}" -o ControlMaster=no -o LogLevel=ERROR "$NI_HOST" "$@"
}

# ssh_run_job ROLE COMMAND: run the phase's main remote command (a target-side script)
# so that it can be ended from here: its remote shell is the leader of its own process
# group (sshd starts every session with setsid) and writes its PID to the host's /run;
# until ssh comes back normally, $WORK_DIR/job-ROLE says where that PID is, and
# end_remote_jobs (on interrupt, deadline or exit) ends the whole remote group. Without
# it, an interrupted apply left do-install running beside the next one.
ssh_run_job() {
  local role=$1 command=$2 token pidfile rc=0
  token=$(basename "$WORK_DIR")
  pidfile="/run/cdktf-nixos-installer.$token.pid"
  printf '%s\n' "$pidfile" >"$WORK_DIR/job-$role"
  ssh_run "$role" "echo \$\$ >$pidfile; $command; rc=\$?; rm -f $pidfile; exit \$rc" || rc=$?
  # 124 (the deadline cut ssh off) and 255 (ssh lost its connection, or was interrupted)
  # say nothing about the job, which may still run: the marker stays for end_remote_jobs.
  # Any other status is the job's own: it has ended.
  case "$rc" in 124 | 255) ;; *) rm -f "$WORK_DIR/job-$role" ;; esac
  return "$rc"
}

# end_remote_jobs: end the remote jobs of this phase that may still run (see ssh_run_job),
# through their role's master while it is up; bounded.
end_remote_jobs() {
  local f role pidfile
  for f in "$WORK_DIR"/job-*; do
    [ -f "$f" ] || continue
    role=${f##*/job-}
    pidfile=$(cat "$f") || continue
    if [ -S "$WORK_DIR/ctl-$role" ]; then
      log "ending the remote command on $NI_HOST ($role) that this phase started" || true
      timeout 10 ssh -S "$WORK_DIR/ctl-$role" -o ControlMaster=no -o LogLevel=ERROR -T _ \
        "p=\$(cat $pidfile 2>/dev/null) && [ -n \"\$p\" ] && kill -TERM -- -\$p 2>/dev/null; rm -f $pidfile" </dev/null >/dev/null 2>&1 || true
    fi
    # (only now: the watcher and the EXIT trap may both get here, and neither may skip it)
    rm -f "$f"
  done
}

# ssh_close ROLE: end the role's master and wait (bounded) until it has logged what it sent.
ssh_close() {
  local ctl="$WORK_DIR/ctl-$1" i
  [ -S "$ctl" ] || return 0
  set_master_logs "$1"
  # A master that is gone already has nothing left to log.
  if ssh -S "$ctl" -O exit _ >/dev/null 2>&1; then
    for i in 1 2 3 4 5 6 7 8 9 10; do
      grep -q 'Transferred: sent' "$MASTER_LOG" 2>/dev/null && break
      pause 0.1
    done
  fi
  # one that did not take -O exit (still authenticating, or hung) is ended by its PID
  if master_pid "$1" && kill -0 "$MASTER_PID" 2>/dev/null &&
    [ "$(ps -o comm= -p "$MASTER_PID" 2>/dev/null)" = ssh ]; then
    kill "$MASTER_PID" 2>/dev/null || true
  fi
  rm -f "$ctl" "$WORK_DIR/master-$1.pid"
}

# The masters this phase opened and the bytes they sent, from each master's own
# VERBOSE log ("Transferred: sent N, received M bytes"): one log a master.
report_transfer() {
  local sent=0 masters=0 n f
  for f in "$WORK_DIR"/master-*.log; do
    [ -f "$f" ] || continue
    masters=$((masters + 1))
    n=$(awk '/Transferred: sent/ {gsub(",", "", $3); s += $3} END {print s + 0}' "$f")
    sent=$((sent + n))
  done
  log "ssh: $masters master connection(s), $sent bytes sent, $(awk -v a="$PHASE_STARTED" -v b="${EPOCHREALTIME:-$SECONDS}" 'BEGIN {printf "%.2f", b - a}') s"
}

# send_file ROLE REMOTE_PATH WHAT: write stdin to REMOTE_PATH (its directory made first)
# over the role's pinned master.
send_file() {
  ssh_run "$1" "mkdir -p $(dirname "$2") && cat > $2" ||
    die_remote $? "$1" "uploading $3" "could not upload $3 to $2 on $NI_HOST (see above)"
}

# send_dir ROLE LOCAL_DIR REMOTE_DIR WHAT: replace REMOTE_DIR with a copy of LOCAL_DIR
# (links followed) over the role's pinned master.
send_dir() {
  tar -C "$2" -chf - . | ssh_run "$1" "rm -rf $3 && mkdir -p $3 && tar -C $3 -xf -" ||
    die_remote $? "$1" "uploading $4" "could not unpack $4 into $3 on $NI_HOST (see above)" "check the free space on the host"
}

# fetch_file ROLE REMOTE_PATH LOCAL_FILE: copy a file from the host; LOCAL_FILE is
# replaced only by a complete copy.
fetch_file() {
  mkdir -p "$(dirname "$3")"
  ssh_run "$1" "cat $2" >"$3.tmp" ||
    die_remote $? "$1" "reading $2" "could not read $2 from $NI_HOST"
  mv "$3.tmp" "$3"
}

# role_marker ROLE: ask the host which role it is, through the pinned connection.
ROLE_TEST='if [ -e /etc/initrd-release ]; then echo initrd; elif [ -e /etc/cdktf-nixos-installer/installer ]; then echo installer; elif [ -e /etc/NIXOS ]; then echo installed; else echo base; fi'
confirm_role() {
  local role=$1 said
  said=$(ssh_run "$role" "$ROLE_TEST") || die_remote $? "$role" "asking which role it is in" "could not ask $NI_HOST which role it is in"
  [ "$said" = "$role" ] || die "$NI_HOST offers the $role host key but says it is '$said'" \
    "the host is not in the state the chain expected; inspect it, then run: $(replace_hint probe)"
}

# backoff_sleep: 0.5, 1, 2, 4, then 5 s between polls (reset BACKOFF_STEP=0 to start over).
# Polling is a key scan: cheap for the host, so the first polls are quick.
BACKOFF_STEP=0
backoff_sleep() {
  local delays=(0.5 1 2 4 5) i=$BACKOFF_STEP
  kill -0 "$PPID" 2>/dev/null || die "the process that started this phase is gone (terraform was interrupted); stopping"
  [ "$i" -lt "${#delays[@]}" ] || i=$((${#delays[@]} - 1))
  set_left
  # Never sleep past the phase deadline: the last poll happens at the deadline, so a
  # phase with timeouts.X = 5 gives up after 5 s, not after the next 4 s step.
  if [ "$i" -ge 2 ] && [ "$LEFT" -lt "${delays[$i]}" ]; then
    pause "$LEFT"
  else
    pause "${delays[$i]}"
  fi
  BACKOFF_STEP=$((BACKOFF_STEP + 1))
}

# wait_for_role ROLE WHAT: poll (with backoff) until the host offers the role's pinned
# key; stops at once on a key that is not pinned, and at the phase deadline.
wait_for_role() {
  local want=$1 what=$2 now
  BACKOFF_STEP=0
  log "waiting up to $(remaining) s for $what on $NI_HOST:$(port_of_role "$want")"
  while :; do
    now=$(current_role)
    [ "$now" = "$want" ] && return 0
    stop_on_unknown_key "$now"
    set_left
    if [ "$LEFT" -le 0 ]; then
      die "timed out after ${NI_TIMEOUT} s waiting for $what on $NI_HOST:$(port_of_role "$want") (last seen: $now)" \
        "check the host's console; raise timeouts.$PHASE if the host is slow; then run terraform apply again"
    fi
    backoff_sleep
  done
}

# ---- building on the deploy machine (buildOn: "deployer") ----------------------
# NI_BUILD_ON: "target" (default; the host builds its flake) or "deployer": this machine's
# Nix builds the toplevel and `nix copy` sends its closure over the role's pinned master.
# The Nix it runs: CDKTF_NIXOS_INSTALLER_NIX from the deploy machine's environment (one
# executable, default `nix`; the loopback lab points it at lab/nix-trixie/nix).
NI_BUILD_ON=${NI_BUILD_ON:-target}
DEPLOYER_NIX=${CDKTF_NIXOS_INSTALLER_NIX:-nix}

# stage_flake DIR RUNTIME_INFO_PATH: a copy of the flake DIR (links followed) in this
# phase's private directory, with the host's runtime-info (hosts/NAME/runtime-info.json,
# when there is one) at RUNTIME_INFO_PATH in it, where the flake reads it; prints its
# path. What a rebuild sends and what a build on the deploy machine builds: the flake as
# the host will hold it in /etc/nixos.
stage_flake() {
  local stage="$WORK_DIR/flake"
  mkdir -p "$stage"
  cp -RL "$1/." "$stage/"
  chmod -R u+w "$stage"
  if [ -f "$HOST_DIR/runtime-info.json" ]; then
    mkdir -p "$(dirname "$stage/$2")"
    cp "$HOST_DIR/runtime-info.json" "$stage/$2"
  fi
  printf '%s' "$stage"
}

# deployer_nix ARGS...: this machine's Nix with flakes on, bounded by the phase deadline
# (--foreground: in the phase's process group, so an interrupt ends it too; Nix ends the
# builds it started when it is told to stop, and one that does not stop within 10 s is
# killed). Every Nix call of the deploy side goes through here: the kexec bundle's build,
# the system's build and its copy.
deployer_nix() {
  set_left
  timeout --foreground -k 10 "$((LEFT + 1))" "$DEPLOYER_NIX" --extra-experimental-features 'nix-command flakes' "$@"
}

# build_on_deployer FLAKE_DIR ATTRIBUTE: build nixosConfigurations.ATTRIBUTE's toplevel
# here; sets SYSTEM to its store path. The flake's own flake.lock pins its inputs: a
# flake whose lock is missing or stale stops here (--no-update-lock-file), so the host
# gets exactly what the lock names. Nothing on the host has been touched yet.
build_on_deployer() {
  local dir=$1 attr=$2 rc=0 out
  command -v "$DEPLOYER_NIX" >/dev/null ||
    die "buildOn is \"deployer\" but there is no Nix on this deploy machine ('$DEPLOYER_NIX' not found); nothing was sent to $NI_HOST" \
      "install Nix here (or set CDKTF_NIXOS_INSTALLER_NIX to its path), or set buildOn: \"target\"; then run terraform apply again"
  log "building nixosConfigurations.$attr on the deploy machine ($("$DEPLOYER_NIX" --version 2>/dev/null | head -n 1)); its progress follows"
  out=$(deployer_nix build --no-link --print-out-paths --no-update-lock-file \
    "path:$dir#nixosConfigurations.\"$attr\".config.system.build.toplevel" </dev/null) || rc=$?
  case "$rc" in
    0) ;;
    124) die "the build on the deploy machine did not finish within the phase's $NI_TIMEOUT s; nothing was sent to $NI_HOST" "raise timeouts.$PHASE, then run terraform apply again" ;;
    *) die "the build of nixosConfigurations.$attr on the deploy machine failed (nix build, exit $rc; its messages are above); nothing was sent to $NI_HOST" \
      "fix the configuration (a missing or stale flake.lock: run nix flake lock in the flake's directory and commit it), then run terraform apply again" ;;
  esac
  SYSTEM=$(printf '%s\n' "$out" | tail -n 1)
  [[ "$SYSTEM" =~ ^/nix/store/[0-9a-df-np-sv-z]{32}-[A-Za-z0-9+._?=-]+$ ]] ||
    die "nix build printed no store path (got: $(printf '%s' "$out" | tail -c 200))" "run the build by hand to see why: nix build $dir#nixosConfigurations.$attr.config.system.build.toplevel"
  log "built $SYSTEM"
}

# copy_closure ROLE [REMOTE_STORE]: `nix copy` SYSTEM's closure to the host through the
# role's pinned master (REMOTE_STORE: the host's store to write, e.g. local?root=/mnt;
# default its own). Nix opens its own ssh with NIX_SSHOPTS: the same options as every
# session of the role, so it rides the master, and a master that died under it is never
# replaced by an unpinned connection. The host name goes in as an option, not in the
# store URL (an IPv6 address there would need escaping).
copy_closure() {
  local role=$1 store=${2:-} opt url="ssh://cdktf-nixos-installer-target" rc=0
  ssh_open "$role"
  ssh_base_opts "$role"
  for opt in "${SSH_OPTS[@]}"; do
    case "$opt" in *[[:space:]]*) die "cannot pass the ssh option '$opt' to nix copy (NIX_SSHOPTS is split at spaces)" "use a hosts directory, identity file and TMPDIR whose paths hold no space" ;; esac
  done
  [ -z "$store" ] || url="$url?remote-store=$(printf '%s' "$store" | sed 's/%/%25/g; s/?/%3F/g; s/=/%3D/g; s/&/%26/g')"
  log "copying the closure of $SYSTEM to $NI_HOST${store:+ ($store)} (nix copy over the pinned $role connection)"
  NIX_SSHOPTS="${SSH_OPTS[*]} -o ControlMaster=no -o LogLevel=ERROR -o HostName=$NI_HOST" \
    deployer_nix copy --to "$url" "$SYSTEM" </dev/null || rc=$?
  case "$rc" in
    0) ;;
    124) die "nix copy to $NI_HOST did not finish within the phase's $NI_TIMEOUT s" "raise timeouts.$PHASE, then run terraform apply again" ;;
    *) die "nix copy of $SYSTEM to $NI_HOST failed (exit $rc; its messages are above)" \
      "check the free space on the host and that it has nix-store; then run terraform apply again" ;;
  esac
}

# authorized_keys: the public keys for root, one a line (NI_AUTHORIZED_KEY_0, _1, …).
authorized_keys() {
  local i=0 var
  while :; do
    var="NI_AUTHORIZED_KEY_$i"
    [ -n "${!var-}" ] || break
    printf '%s\n' "${!var}"
    i=$((i + 1))
  done
}

# ---- the connection record (hosts/NAME/connection.json) ---------------------------

# abs_path P: P made absolute against the working directory, lexically ('.' and '..'
# resolved, symlinks not followed), as the construct made the NI_* paths (path.resolve).
abs_path() {
  local p=$1 out="" part parts
  case "$p" in /*) ;; *) p="$PWD/$p" ;; esac
  IFS=/ read -r -a parts <<<"$p"
  for part in "${parts[@]}"; do
    case "$part" in '' | .) ;; ..) out=${out%/*} ;; *) out="$out/$part" ;; esac
  done
  printf '%s' "${out:-/}"
}

# path_from_record P: P (relative to the working directory, or absolute) as the
# connection record holds it: absolute stays absolute, relative becomes relative to the
# record's own directory (hosts/NAME/), so it resolves from wherever the record is read
# and moves with a repository that holds both.
path_from_record() {
  local from to up=""
  case "$1" in /*) printf '%s' "$1"; return 0 ;; esac
  from="$(abs_path "$HOST_DIR")/"
  to=$(abs_path "$1")
  [ "$from" != // ] || from=/
  while [ "${to#"$from"}" = "$to" ]; do
    from="${from%/*/}/"
    up="../$up"
  done
  printf '%s%s' "$up" "${to#"$from"}"
}

# json_string S: S as a JSON string. The values come from validated props (no newline,
# no double quote in a command); any other control character is refused.
json_string() {
  local s=$1
  s=${s//\\/\\\\}
  s=${s//\"/\\\"}
  s=${s//$'\t'/\\t}
  case "$s" in *[[:cntrl:]]*) die "cannot write a control character into $HOST_DIR/connection.json: '$1'" ;; esac
  printf '"%s"' "$s"
}

# write_connection_record: hosts/NAME/connection.json, what a later session needs to
# reach the host as the chain did (the `cdktf-nixos-installer` command: unlock, status,
# ssh): address, ports, user, pool, identity file, the passphrase's source (never the
# passphrase) and the phases' addresses. Public facts only (docs/contracts.md).
write_connection_record() {
  local identity=null ref
  [ -z "$NI_IDENTITY_FILE" ] || identity=$(json_string "$(path_from_record "$NI_IDENTITY_FILE")")
  ref=${NI_PASSPHRASE_REF:-}
  [ "${NI_PASSPHRASE_KIND:-}" != file ] || ref=$(path_from_record "$ref")
  mkdir -p "$HOST_DIR"
  {
    printf '{\n  "version": 1,\n'
    printf '  "host": %s,\n' "$(json_string "$NI_HOST")"
    printf '  "port": %d,\n  "unlockPort": %d,\n' "$NI_PORT" "$NI_UNLOCK_PORT"
    printf '  "user": %s,\n' "$(json_string "$NI_USER")"
    printf '  "pool": %s,\n' "$(json_string "${NI_POOL:-rpool}")"
    printf '  "identityFile": %s,\n' "$identity"
    printf '  "passphrase": { "kind": %s, "ref": %s },\n' "$(json_string "${NI_PASSPHRASE_KIND:-}")" "$(json_string "$ref")"
    printf '  "phaseAddresses": %s\n}\n' "$(json_string "$NI_RESOURCES")"
  } >"$HOST_DIR/connection.json.tmp"
  mv "$HOST_DIR/connection.json.tmp" "$HOST_DIR/connection.json"
}

# The settings only a reinstall applies, as "name value" lines: what install.json records
# and what the probe compares an installed host against (docs/contracts.md).
reinstall_settings() {
  printf 'disks %s\npool %s\nwipe %s\nsystem %s\n' "${NI_DISKS:-}" "${NI_POOL:-rpool}" "${NI_WIPE:-base-system}" "${NI_SYSTEM:-}"
}

# installed_disks: "BY-ID-PATH KERNEL-NAME" lines of the disks runtime-info.json names
# (write-runtime-info writes one disk a line): the disks the install uses.
installed_disks() {
  sed -n 's/^ *{ "path": "\([^"]*\)", "kernelName": "\([^"]*\)".*/\1 \2/p' "$HOST_DIR/runtime-info.json"
}

# write_install_record: hosts/NAME/install.json, written when do-install succeeded: the
# settings the host was installed with, so a later change of any of them is refused
# instead of passing as a replacement that changes nothing, and the configuration it was
# installed from (a user flake's content hash; empty for the template), whose change the
# probe names (phase-probe.sh).
write_install_record() {
  local name value
  mkdir -p "$HOST_DIR"
  {
    printf '{\n  "version": 1'
    while read -r name value; do
      printf ',\n  "%s": %s' "$name" "$(json_string "$value")"
    done < <(reinstall_settings)
    printf ',\n  "configuration": %s' "$(json_string "${NI_CONFIGURATION:-}")"
    # The disks `disks` resolved to, by id and by kernel name: naming the same disks
    # another way later is no change (phase-probe.sh).
    printf ',\n  "installedDisks": %s' "$(json_string "$(installed_disks | awk '{ printf "%s%s", (NR > 1 ? " " : ""), $1 }')")"
    printf ',\n  "installedDiskNames": %s' "$(json_string "$(installed_disks | awk '{ printf "%s/dev/%s", (NR > 1 ? " " : ""), $2 }')")"
    printf '\n}\n'
  } >"$HOST_DIR/install.json.tmp"
  mv "$HOST_DIR/install.json.tmp" "$HOST_DIR/install.json"
}

# recorded_install_setting NAME: the value install.json holds for NAME, as written there
# (JSON-escaped; compare it with json_string's output, not with the raw value).
recorded_install_setting() {
  sed -n "s/^  \"$1\": \"\(.*\)\",\{0,1\}\$/\1/p" "$HOST_DIR/install.json"
}

# ---- the disk passphrase --------------------------------------------------------

# read_passphrase: prints the passphrase on stdout for a pipe. Never in argv, never logged.
# A file or a command's output is read whole, less one trailing newline; a command runs
# within the phase deadline (in a process group of its own, so that a hung one goes with
# all it started). A line break (or carriage return) inside is refused in every source:
# zfs takes a passphrase up to the first newline, so the pool's key would be its first
# line while every length check counted all of it.
read_passphrase() {
  local value="" what rc=0
  what="the disk passphrase from the ${NI_PASSPHRASE_KIND:-} source '${NI_PASSPHRASE_REF:-}'"
  case "${NI_PASSPHRASE_KIND:-}" in
    env)
      value=${!NI_PASSPHRASE_REF-}
      [ -n "$value" ] || die "the disk passphrase environment variable $NI_PASSPHRASE_REF is empty or not set" \
        "export $NI_PASSPHRASE_REF before terraform apply" ;;
    file)
      [ -r "$NI_PASSPHRASE_REF" ] || die "the disk passphrase file $NI_PASSPHRASE_REF cannot be read" \
        "create it (mode 0600) or point passphrase at another source"
      # (the x keeps the trailing newlines that $(...) would strip)
      value=$(cat -- "$NI_PASSPHRASE_REF" && printf x) || die "could not read the disk passphrase file $NI_PASSPHRASE_REF"
      value=${value%x}
      value=${value%$'\n'} ;;
    command)
      [ "$(remaining)" -gt 0 ] || die "no time is left of timeouts.$PHASE to run the disk passphrase command" "raise timeouts.$PHASE"
      value=$(timeout "$(remaining)" bash -c "$NI_PASSPHRASE_REF" && printf x) || rc=$?
      [ "$rc" != 124 ] || die "the disk passphrase command did not finish within the $NI_TIMEOUT s of timeouts.$PHASE: $NI_PASSPHRASE_REF" \
        "nothing was sent to the host; run the command by hand (does it wait for input?), or raise timeouts.$PHASE"
      [ "$rc" = 0 ] || die "the disk passphrase command failed (exit $rc): $NI_PASSPHRASE_REF" "run it by hand to see why"
      value=${value%x}
      value=${value%$'\n'} ;;
    *) die "unknown passphrase source kind '${NI_PASSPHRASE_KIND:-}'" ;;
  esac
  case "$value" in
    *$'\n'* | *$'\r'*)
      value=""
      die "$what holds a line break (a newline or carriage return) inside; only one trailing newline of a file or a command's output is dropped" \
        "zfs would take only the first line as the pool's key: use a passphrase of one line (a file saved with Windows line endings ends in a carriage return)" ;;
  esac
  [ "${#value}" -ge 8 ] || die "$what is shorter than 8 characters (ZFS needs 8 to 512)"
  [ "${#value}" -le 512 ] || die "$what is longer than 512 characters (ZFS needs 8 to 512)"
  printf '%s\n' "$value"
}

# ---- leftovers of killed runs ---------------------------------------------------

# On Ctrl-C Terraform kills a running local-exec with SIGKILL: the phase's EXIT trap
# never runs, so its directory (known_hosts, control sockets, master logs; never a
# secret) and any master connection stay behind. The next phase script ends those
# masters and removes the directories whose owner process is gone.
reap_stale_work_dirs() {
  local d owner pid ctl
  for d in "${TMPDIR:-/tmp}"/ni.*; do
    if [ ! -d "$d" ] || [ "$d" = "$WORK_DIR" ] || [ ! -O "$d" ]; then continue; fi
    # Phases of other hosts run beside this one (Terraform's parallelism) and remove
    # their own directory when they finish: one that vanishes under us is skipped.
    # (read, not cat: every phase start looks at every other phase's directory, so a
    # process here would cost a fleet the square of its size)
    owner=""
    { IFS= read -r owner <"$d/owner"; } 2>/dev/null || [ -n "$owner" ] || continue
    pid=${owner%% *}
    case "$pid" in '' | *[!0-9]*) continue ;; esac
    kill -0 "$pid" 2>/dev/null && continue
    for ctl in "$d"/ctl-*; do
      if [ -S "$ctl" ]; then ssh -S "$ctl" -O exit _ >/dev/null 2>&1 || true; fi
    done
    rm -rf "$d"
    log "removed $d, left by a killed run (${owner#* })"
  done
  return 0
}
# Process IDs below $1 (children, grandchildren, …), from ps (portable: Linux and macOS).
descendants() {
  ps -A -o pid= -o ppid= | awk -v top="$1" '
    { parent[$1] = $2 }
    END {
      want[top] = 1
      do { more = 0; for (p in parent) if ((parent[p] in want) && !(p in want)) { want[p] = 1; more = 1 } } while (more)
      for (p in want) if (p != top) print p
    }'
}

# watch_phase: on Ctrl-C (or a cancelled job) Terraform SIGKILLs the shell that started
# this script and tells this script nothing: it went on, and its remote command with it
# (do-install beside the next apply's). A watcher polls (1 s) for the parent; when it is
# gone it ends the remote job and the masters itself (a trap here waits for the running
# foreground command), then sends TERM, and after 10 s ends whatever is left of the
# phase. When this script is killed outright, the watcher cleans up after it.
watch_phase() {
  local main=$$ parent=$PPID
  (
    set +e
    trap - EXIT INT TERM HUP PIPE
    me=$BASHPID
    while kill -0 "$main" 2>/dev/null; do
      if ! kill -0 "$parent" 2>/dev/null; then
        end_remote_jobs
        for role in base installer initrd installed; do ssh_close "$role"; done
        kill -TERM "$main" 2>/dev/null || true
        for _ in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20; do
          kill -0 "$main" 2>/dev/null || break
          pause 0.5
        done
        if kill -0 "$main" 2>/dev/null; then
          for p in $(descendants "$main"); do
            [ "$p" = "$me" ] || kill -KILL "$p" 2>/dev/null || true
          done
          kill -KILL "$main" 2>/dev/null || true
        fi
        break
      fi
      pause 1
    done
    # killed outright: its EXIT trap did not run
    if [ -d "$WORK_DIR" ]; then
      end_remote_jobs
      for role in base installer initrd installed; do ssh_close "$role"; done
      rm -rf "$WORK_DIR"
    fi
  ) </dev/null >/dev/null 2>&1 &
}

reap_stale_work_dirs
watch_phase
