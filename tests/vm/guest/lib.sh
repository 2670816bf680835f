# SPDX-License-Identifier: LGPL-2.1-or-later
# shellcheck shell=bash disable=SC2034  # the variables are for the scenarios that source this
#
# Sourced by every scenario in the guest. A scenario prints exactly one line on stdout,
# `PASS: <name>` or `FAIL: <name>: <why>`, and writes its trace to stderr (shown by the
# runner only when it failed). <name> is the file name without the NN- prefix and .sh.

set -u
shopt -s nullglob

SCENARIO=$(basename "$0" .sh)
SCENARIO=${SCENARIO#[0-9][0-9]-}
# The boot (on, off: Debian's kernel; iommufd: the 6.12 kernel with iommufd and cdevs) and
# the emulated VT-d's interrupt remapping (on, off).
FLAVOUR=${VFIO_VM_FLAVOUR:-on}
INTREMAP=${VFIO_VM_INTREMAP:-on}
BUS=org.vfioassign1
ROOT_PATH=/org/vfioassign1
MANAGER=org.vfioassign1.Manager
GROUP_IFACE=org.vfioassign1.Group
DEVICE_IFACE=org.vfioassign1.Device
TMP=$(mktemp -d /run/vfio-vm/"$SCENARIO".XXXXXX)
BG_PIDS=()
EXIT_HOOKS=()

# on_exit COMMAND: run at exit, last registered first. Scenarios use it to put the machine
# back (rescan a removed device, rebind a driver) even when they fail half-way, so that a
# failure does not cascade into the scenarios after it.
on_exit() {
        EXIT_HOOKS+=("$1")
}

cleanup_scenario() {
        local p i
        for p in "${BG_PIDS[@]}"; do
                kill "$p" 2>/dev/null && wait "$p" 2>/dev/null
        done
        for (( i = ${#EXIT_HOOKS[@]} - 1; i >= 0; i-- )); do
                eval "${EXIT_HOOKS[i]}" >&2 || true
        done
        return 0
}
trap cleanup_scenario EXIT

pass() {
        echo "PASS: $SCENARIO"
        exit 0
}

fail() {
        echo "FAIL: $SCENARIO: $*"
        exit 1
}

log() {
        echo "[$SCENARIO] $*" >&2
}

# A fact worth seeing in every run (the harness prints it, pass or fail).
note() {
        echo "INFO: $*"
}

# Runs "$@" and fails the scenario with its stderr when it fails.
must() {
        local err
        if ! err=$("$@" 2>&1 >/dev/null); then
                fail "'$*' failed: $(echo "$err" | tr '\n' ' ' | cut -c1-200)"
        fi
}

# wait_until SECONDS COMMAND...: polls COMMAND every 0.1 s until it succeeds; returns 1 when
# SECONDS have passed. Events are waited for this way, never with a fixed sleep.
wait_until() {
        local limit=$1 deadline now
        shift
        deadline=$(awk -v u="$(cut -d' ' -f1 /proc/uptime)" -v l="$limit" \
                   'BEGIN { printf "%d", (u + l) * 100 }')
        while ! "$@"; do
                now=$(awk '{ printf "%d", $1 * 100 }' /proc/uptime)
                [[ $now -lt $deadline ]] || return 1
                sleep 0.1
        done
        return 0
}

# sd_bus_path_encode() of a PCI address: every byte but [A-Za-z0-9] becomes _xx, and so does
# a leading digit (systemd's bus_label_escape()): 0000:03:01.0 -> _30000_3a03_3a01_2e0.
device_path() {
        local a=$1 first
        a=${a//:/_3a}
        a=${a//./_2e}
        first=${a:0:1}
        if [[ $first == [0-9] ]]; then
                a=_3$first${a:1}
        fi
        echo "$ROOT_PATH/device/$a"
}

group_path() {
        echo "$ROOT_PATH/group/$1"
}

# prop OBJECT IFACE NAME: the property's value as compact JSON (busctl --json=short).
prop() {
        busctl --system --json=short get-property "$BUS" "$1" "$2" "$3" | jq -c '.data'
}

# The JSON text returned by GetHostReport.
host_report() {
        busctl --system --json=short call "$BUS" "$ROOT_PATH" "$MANAGER" GetHostReport |
                jq -r '.data[0]'
}

# Makes sure the daemon answers (D-Bus activation starts it on the first call).
daemon_up() {
        busctl --system get-property "$BUS" "$ROOT_PATH" "$MANAGER" APIVersion >/dev/null 2>&1
}

require_daemon() {
        command -v assignctl >/dev/null || fail "assignctl is not installed in the guest"
        [[ -x /usr/sbin/vfio-assignd ]] || fail "/usr/sbin/vfio-assignd is not installed"
        wait_until 30 daemon_up || fail "org.vfioassign1 does not answer on the system bus"
}

# start_monitor FILE MATCH...: `busctl monitor` (JSON, one message a line) in the
# background, returning once it is known to see messages: a marker signal we emit
# ourselves must have come through.
start_monitor() {
        local file=$1 m args=()
        shift
        for m in "$@"; do
                args+=("--match=$m")
        done
        args+=("--match=type='signal',path='/org/vfioassign1/vmtest/sync'")
        busctl --system --json=short monitor "${args[@]}" > "$file" 2> "$file.err" &
        BG_PIDS+=($!)
        wait_until 15 monitor_synced "$file" ||
                fail "busctl monitor did not start: $(head -c 300 "$file.err")"
}

# Emits a marker signal and says whether the monitor writing to $1 has seen one yet.
monitor_synced() {
        busctl --system emit /org/vfioassign1/vmtest/sync org.vfioassign1.VmTest Sync 2>/dev/null
        grep -q '"member":"Sync"' "$1"
}

# Unique bus name of the daemon (signals in a monitor log carry it as "sender").
daemon_unique_name() {
        busctl --system --json=short call org.freedesktop.DBus /org/freedesktop/DBus \
                org.freedesktop.DBus GetNameOwner s "$BUS" | jq -r '.data[0]'
}

# ---- claims: drivers, leases, holders, policy files (the lease scenarios) ----------------------

LEASE_IFACE=org.vfioassign1.Lease
REGION_IFACE=org.vfioassign1.Region
POLICY_DIR=/etc/vfio-assignd/policy.d
# The devices the lease scenarios move, and the host drivers udev gave them at boot.
declare -A HOST_DRIVER=([0000:01:00.0]=e1000e [0000:03:01.0]=e1000 [0000:03:02.0]=e1000)

# The bound driver's name, empty when none.
driver_of() {
        local link
        link=$(readlink "/sys/bus/pci/devices/$1/driver" 2>/dev/null) || return 0
        echo "${link##*/}"
}

bound_to() { [[ $(driver_of "$1") == "$2" ]]; }

# dead PID: the process has exited (a zombie counts: its files are closed by then), whoever's
# child it is.
dead() {
        local state
        state=$(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null) || return 0
        [[ -z $state || $state == Z || $state == X ]]
}

# back_on ADDR DRIVER SINCE: waits (10 s at most) until ADDR is on DRIVER with no override and
# prints the milliseconds since SINCE (an $EPOCHREALTIME); returns 1 on timeout. Polls the sysfs
# link, not the bus, so the figure is the kernel's.
back_on() {
        local addr=$1 driver=$2 since=$3
        until bound_to "$addr" "$driver" && [[ -z $(override_of "$addr") ]]; do
                awk -v a="$since" -v b="$EPOCHREALTIME" 'BEGIN { exit !(b - a > 10) }' && return 1
                sleep 0.02
        done
        awk -v a="$since" -v b="$EPOCHREALTIME" 'BEGIN { printf "%d", (b - a) * 1000 }'
}

override_of() {
        local v=
        read -r v < "/sys/bus/pci/devices/$1/driver_override" 2>/dev/null
        [[ $v == "(null)" ]] && v=
        echo "$v"
}

# ListLeases as compact JSON: [[id, path, group, kind, state, holder, uid], ...].
list_leases() {
        busctl --system --json=short call "$BUS" "$ROOT_PATH" "$MANAGER" ListLeases | jq -c '.data[0]'
}

no_leases() { [[ $(list_leases) == "[]" ]]; }

# The lease on group $1 as JSON (empty when none).
lease_of_group() {
        list_leases | jq -c --argjson g "$1" '.[] | select(.[2] == $g)'
}

# start_holder FILE COMMAND...: runs COMMAND in the background with its output in FILE and
# waits for its "READY" line (test-vmm --hold, or assignctl claim's "Claimed" line). Sets
# HOLDER_PID. Fails the scenario when the command exits first or does not get ready in 30 s.
start_holder() {
        local file=$1
        shift
        "$@" > "$file" 2>&1 &
        HOLDER_PID=$!
        BG_PIDS+=("$HOLDER_PID")
        wait_until 30 holder_ready "$file" || fail "'$*' did not get ready in 30 s: $(tail -n 5 "$file" | tr '\n' ' ')"
        grep -q -e '^READY$' -e '^Holding IOMMU group' "$file" ||
                fail "'$*' exited before holding its claim: $(tail -n 8 "$file" | tr '\n' ' ')"
}

# The holder writing to $1 holds its claim, or has exited (start_holder tells which).
holder_ready() {
        grep -q -e '^READY$' -e '^Holding IOMMU group' "$1" && return 0
        ! kill -0 "$HOLDER_PID" 2>/dev/null
}

# Puts a device back on a driver by hand (driver_override cleared, unbind, bind), the way an
# administrator would after a daemon left it behind.
rebind_by_hand() {
        local a=$1 want=$2 sys=/sys/bus/pci/devices/$1
        [[ -e $sys ]] || return 0
        if [[ -n $(override_of "$a") ]]; then
                echo > "$sys/driver_override" 2>/dev/null
        fi
        bound_to "$a" "$want" && return 0
        [[ -e $sys/driver ]] && echo "$a" > "$sys/driver/unbind" 2>/dev/null
        echo "$a" > "/sys/bus/pci/drivers/$want/bind" 2>/dev/null
        bound_to "$a" "$want"
}

# on_exit restore_host: after a lease scenario, no lease is left (released through the bus as
# root, which polkit allows through org.vfioassign1.manage) and every device is back on its host
# driver with no override, whatever state the daemon or the scenario left.
restore_host() {
        local path a
        for path in $(list_leases 2>/dev/null | jq -r '.[][1]' 2>/dev/null); do
                log "cleanup: releasing $path"
                timeout 60 busctl --system call "$BUS" "$path" "$LEASE_IFACE" Release 'a{sv}' 0 >&2
        done
        for a in "${!HOST_DRIVER[@]}"; do
                if ! bound_to "$a" "${HOST_DRIVER[$a]}" || [[ -n $(override_of "$a") ]]; then
                        log "cleanup: $a is on '$(driver_of "$a")' (override '$(override_of "$a")'):" \
                            "putting it back on ${HOST_DRIVER[$a]} by hand"
                        rebind_by_hand "$a" "${HOST_DRIVER[$a]}" || log "cleanup: $a could not be put back"
                fi
        done
}

# Every device of the lease scenarios is on its host driver and no lease exists.
host_restored() {
        local a
        no_leases || return 1
        for a in "${!HOST_DRIVER[@]}"; do
                bound_to "$a" "${HOST_DRIVER[$a]}" || return 1
                [[ -z $(override_of "$a") ]] || return 1
        done
}

# "0000:01:00.0=e1000e 0000:03:01.0=vfio-pci(override vfio-pci) ... leases=[...]" for messages.
host_state() {
        local a out=
        for a in 0000:01:00.0 0000:03:01.0 0000:03:02.0; do
                out+="$a=$(driver_of "$a")"
                [[ -z $(override_of "$a") ]] || out+="(override $(override_of "$a"))"
                out+=" "
        done
        echo "${out}leases=$(list_leases 2>/dev/null)"
}

# Fails the scenario unless the host starts clean: a scenario before us must not decide ours.
require_host_clean() {
        host_restored || fail "the host is not clean before the test: $(host_state)"
}

# install_policy NAME JSON: a policy file in /etc/vfio-assignd/policy.d, loaded with
# `assignctl policy reload`; removed (and the policy reloaded) at exit.
install_policy() {
        local name=$1 text=$2
        mkdir -p "$POLICY_DIR"
        printf '%s\n' "$text" > "$POLICY_DIR/$name"
        on_exit "rm -f '$POLICY_DIR/$name'; assignctl policy reload >&2"
        must assignctl policy check "$POLICY_DIR/$name"
        must assignctl policy reload
        policy_has_file "$POLICY_DIR/$name" || fail "the daemon does not list $name in PolicyFiles"
}

policy_has_file() {
        prop "$ROOT_PATH" "$MANAGER" PolicyFiles | jq -e --arg f "$1" 'index([$f]) != null' >/dev/null
}

# allow_claims_by USER ADDR: USER may claim ADDR without authentication: a polkit rule granting
# org.vfioassign1.claim and a policy file allowing the device, both removed at exit. Returns once
# USER's claim gets through (polkitd reloads its rules on inotify, a little later).
allow_claims_by() {
        local user=$1 addr=$2 rules=/etc/polkit-1/rules.d/50-vfio-vm-$1.rules uid
        uid=$(id -u "$user" 2>/dev/null) || fail "no user $user in the guest"
        on_exit "rm -f $rules"
        printf '%s\n' "/* vfio-assignd VM test: $user may claim, without authentication. */" \
                'polkit.addRule(function(action, subject) {' \
                "        if (action.id == \"org.vfioassign1.claim\" && subject.user == \"$user\")" \
                '                return polkit.Result.YES;' \
                '});' > "$rules"
        install_policy "50-vfio-vm-$user.json" '{ "version": 1, "rules": [
  { "description": "vfio-assignd VM test: '"$user"' may have '"$addr"'",
    "match": { "address": "'"$addr"'" }, "action": "allow", "users": [ "'"$user"'" ] } ] }'
        _may_claim() { timeout 30 setpriv --reuid="$uid" --regid="$uid" --init-groups -- \
                assignctl --no-ask-password claim "$addr" --exec true >/dev/null 2>&1; }
        wait_until 20 _may_claim || fail "$user's claim is still refused 20 s after the polkit rule"
        wait_until 10 host_restored || fail "after $user's probe claim: $(host_state)"
}

# The D-Bus error name of an `assignctl --json=short` failure, from its JSON error on stderr.
error_name() {
        jq -r '.error.name // empty' "$1" 2>/dev/null | head -n 1
}

error_message() {
        jq -r '.error.message // empty' "$1" 2>/dev/null | head -n 1
}

# Messages of the daemon's unit since a journal cursor.
journal_since() {
        journalctl -q --after-cursor="$1" -u vfio-assignd -o cat 2>/dev/null
}

# journal_has CURSOR PATTERN: the daemon has logged a line matching PATTERN (grep -E) since
# CURSOR, waiting up to 10 s for journald, which stores what the daemon wrote a little later.
journal_has() {
        local cursor=$1 pattern=$2
        _journal_match() { journal_since "$cursor" | grep -Eq "$pattern"; }
        wait_until 10 _journal_match
}

journal_cursor() {
        journalctl -n 0 --show-cursor -q | sed -n 's/^-- cursor: //p'
}

# udevadm monitor of the kernel's pci uevents, to prove what did (or did not) happen to the
# drivers: lines like "KERNEL[12.3] bind /devices/.../0000:01:00.0 (pci)".
start_uevent_monitor() {
        local file=$1
        udevadm monitor --kernel --subsystem-match=pci > "$file" 2>&1 &
        BG_PIDS+=($!)
        wait_until 10 grep -q 'KERNEL - the kernel uevent' "$file" ||
                fail "udevadm monitor did not start: $(head -c 200 "$file")"
}

# uevent_sync FILE: returns once the monitor writing FILE has seen everything the kernel sent
# before now: a "change" uevent triggered here (on 00:02.0, which no scenario moves) has come
# through. Before concluding that nothing was sent.
uevent_sync() {
        echo change > /sys/bus/pci/devices/0000:00:02.0/uevent
        wait_until 10 grep -q 'change .*/0000:00:02.0 (pci)' "$1" || fail "the uevent monitor saw nothing"
}

uevents_for() {
        grep -E "^KERNEL\[[0-9.]+\] +[a-z]+ +/devices/.*/$2 \(pci\)" "$1" | awk '{ print $2 }' | paste -sd' ' -
}

# ---- the kernel's side of a reset --------------------------------------------------------------

TRACE=/sys/kernel/tracing

# start_reset_trace: the function tracer on the PCI reset entry points, from now on (opening a
# device fd resets it too, vfio_pci_core_enable(): arm it after that). Sets RESET_TRACE when the
# kernel has the tracer; the exit hook puts the tracer back.
start_reset_trace() {
        RESET_TRACE=
        if [[ -w $TRACE/set_ftrace_filter ]] &&
           echo 'pci_try_reset_function pci_reset_function' > "$TRACE/set_ftrace_filter" 2>/dev/null; then
                on_exit "echo 0 > $TRACE/tracing_on; echo nop > $TRACE/current_tracer; echo > $TRACE/set_ftrace_filter; echo > $TRACE/trace"
                echo > "$TRACE/trace"
                echo function > "$TRACE/current_tracer" && echo 1 > "$TRACE/tracing_on" && RESET_TRACE=1
        fi
        [[ -n $RESET_TRACE ]] || log "function tracer not available: the reset is checked in the journal only"
}

# check_daemon_reset ADDR: the daemon's process reset a device since start_reset_trace, through
# VFIO_DEVICE_RESET (pci_try_reset_function from vfio-pci's ioctl) or sysfs "reset"
# (pci_reset_function from reset_store); fails the scenario when the trace does not show it.
check_daemon_reset() {
        [[ -n $RESET_TRACE ]] || return 0
        echo 0 > "$TRACE/tracing_on"
        grep -v '^#' "$TRACE/trace" > "$TMP/trace" || true
        log "reset calls traced: $(tr '\n' '|' < "$TMP/trace")"
        # "vfio-assignd-305 [001] ..... 12.3: pci_try_reset_function <-vfio_pci_core_ioctl"
        grep -Eq 'vfio-assignd-[0-9]+ .*(pci_try_reset_function <-vfio_pci_[a-z_]*ioctl|pci_reset_function <-reset_store)' \
                "$TMP/trace" || fail "the daemon did not reset $1 before giving it back (no VFIO_DEVICE_RESET or sysfs reset in the trace: $(tr '\n' '|' < "$TMP/trace" | cut -c1-300))"
        note "reset of $1 seen in the kernel: $(grep -Eo 'vfio-assignd-[0-9]+ .*(pci_try_reset_function|pci_reset_function) <-[a-z_]+' "$TMP/trace" | grep -Eo '(pci_try_reset_function|pci_reset_function) <-[a-z_]+' | sort -u | paste -sd, -)"
}

# ---- QMP: a session with a QEMU of the scenario's, through netcat (one JSON object a line) -----

# Seconds a QMP reply may take (a device_add that pins a large guest's RAM takes longer).
QMP_TIMEOUT=30

# qmp_connect SOCKET: the session on the coprocess QMP, past the greeting and capabilities
# negotiation. Returns 1 when QEMU sent no greeting; QMP_GREETING holds what came instead, and
# QMP_GREETING_AT the $EPOCHREALTIME it came at (QEMU greets once its main loop runs).
qmp_connect() {
        local dir
        # netcat between two FIFOs on fds of this shell's own, not a coproc: bash closed a
        # coproc's fds in command substitutions after a QMP command that took seconds (QEMU 10
        # realizing a vfio-pci device), with netcat still running.
        qmp_close
        dir=$(mktemp -d "$TMP/qmp.XXXXXX")
        mkfifo "$dir/in" "$dir/out"
        nc -U "$1" < "$dir/in" > "$dir/out" 2>&1 &
        QMP_PID=$!
        BG_PIDS+=("$QMP_PID")
        # The order netcat opens them in (in, then out), or both sides would wait forever.
        exec {QMP_IN}> "$dir/in" {QMP_OUT}< "$dir/out"
        QMP=("$QMP_OUT" "$QMP_IN")
        QMP_GREETING=
        IFS= read -r -t "$QMP_TIMEOUT" QMP_GREETING <&"${QMP[0]}"
        QMP_GREETING_AT=$EPOCHREALTIME
        [[ $QMP_GREETING == '{"QMP":'* ]] || return 1
        log "QMP: $QMP_GREETING"
        qmp '{"execute": "qmp_capabilities"}' > /dev/null
}

# qmp COMMAND: sends it and prints the reply (skipping asynchronous events).
qmp() {
        local line
        [[ -n ${QMP[1]:-} ]] || return 1
        printf '%s\n' "$1" >&"${QMP[1]}"
        while IFS= read -r -t "$QMP_TIMEOUT" line <&"${QMP[0]}"; do
                if jq -e 'has("return") or has("error")' >/dev/null 2>&1 <<<"$line"; then
                        printf '%s\n' "$line"
                        return 0
                fi
        done
        return 1
}

# No reply awaited: QEMU may close the socket before it is read.
qmp_quit() {
        [[ -z ${QMP[1]:-} ]] || printf '%s\n' '{"execute": "quit"}' >&"${QMP[1]}"
}

# Closes this shell's side of the QMP session, if any (netcat then ends).
qmp_close() {
        [[ -n ${QMP[1]:-} ]] || return 0
        exec {QMP_IN}>&- {QMP_OUT}<&-
        QMP=()
}

# qmp_pci_devices VENDOR DEVICE: query-pci's devices with these ids (decimal), as compact JSON;
# behind bridges and root ports too (their pci_bridge.devices).
qmp_pci_devices() {
        local pci
        pci=$(qmp '{"execute": "query-pci"}') || return 1
        jq -c --argjson v "$1" --argjson d "$2" '[.return[].devices[] | recurse(.pci_bridge.devices[]?) |
                select(.id.vendor == $v and .id.device == $d) |
                {bus, slot, function, class: .class_info.class, qdev_id}]' <<<"$pci"
}

# ---- guest RAM: QEMU's pin and the hugepage pool (the memory scenarios) --------------------------

# seconds_since START [END]: the seconds between two $EPOCHREALTIMEs (END: now), 3 decimals.
seconds_since() {
        awk -v a="$1" -v b="${2:-$EPOCHREALTIME}" 'BEGIN { printf "%.3f", b - a }'
}

# qemu_pid_of UID: the pid of UID's QEMU, empty when it has none. The guest has no procps; comm
# is cut at 15 characters (qemu-system-x86).
qemu_pid_of() {
        local p
        for p in /proc/[0-9]*; do
                [[ $(cat "$p/comm" 2>/dev/null) == qemu-system-x86 &&
                   $(stat -c %u "$p" 2>/dev/null) == "$1" ]] && echo "${p#/proc/}"
        done | head -n 1
}

# status_kb PID FIELD: a "FIELD: N kB" line of /proc/PID/status (VmPin: what the process pinned
# for DMA; VmLck: what it mlocked), empty when the process is gone.
status_kb() {
        awk -v f="$2:" '$1 == f { print $2 }' "/proc/$1/status" 2>/dev/null
}

HUGEPAGES_2M=/sys/kernel/mm/hugepages/hugepages-2048kB
# The guest RAM of memory-qemu's QEMUs in MiB: run.sh's VFIO_VM_MEMORY_MB, which reaches the
# guest on the kernel command line (vfio_vm.memory_mb=).
VFIO_VM_MEMORY_MB=${VFIO_VM_MEMORY_MB:-$(tr ' ' '\n' < /proc/cmdline |
        sed -n 's/^vfio_vm\.memory_mb=//p')}

# The 2 MiB hugepages in use (reserved at boot by hugepages= on the kernel command line, minus
# the free ones).
hugepages_in_use() {
        echo $(( $(< "$HUGEPAGES_2M/nr_hugepages") - $(< "$HUGEPAGES_2M/free_hugepages") ))
}

# region_gone PATH: the daemon no longer has the memory region object PATH.
region_gone() {
        ! busctl --system get-property "$BUS" "$1" "$REGION_IFACE" State >/dev/null 2>&1
}
