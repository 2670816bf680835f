#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# vm-flavours: iommufd
#
# Pre-pinned guest memory with a stock QEMU (10, as the unprivileged vmm, uid 1001): the e1000e
# 0000:01:00.0 on an iommufd lease and 512 MiB of guest RAM (VFIO_VM_MEMORY_MB: N MiB, which
# `bench/bench-memory.sh --guest-mb=N` sets with a test VM and hugepage pool to fit), three ways
# in one boot:
#   cold     anonymous RAM QEMU allocates itself (-m 512M)
#   shmem    a memfd the daemon filled: assignctl claim --memory 512M
#   hugetlb  the same of 2 MiB pages: --memory 512M --hugepages 2M
# QEMU starts with -S, the iommufd object and a PCIe root port but no vfio-pci device; the device
# is then hot-added over QMP (device_add with the cdev's fd number). Realizing it attaches the
# device to an IOAS and maps all guest RAM into it before device_add replies, so that reply's
# time is the pin of the guest's RAM, which is what a filled region speeds up. (query-pci cannot
# list a device behind a root port before the firmware numbered its bus: the device is checked
# as realized with qom-get, then the guest runs, and query-pci must show it as vfio0.)
# Prints every time (QEMU start to QMP greeting, device_add's reply) and a
# line "BENCH cold_s=.. shmem_s=.. hugetlb_s=.. ratio_shmem=.. ratio_hugetlb=.. pin_*_s=..
# pin_ratio_*=.. fill_*_s=.." (ratio = cold time / that time; bench/bench-memory.sh reads it). No timing is asserted: TCG times are only
# good for ratios, and bench/ reports them. Asserted each time: the device realized as vfio0,
# QEMU's VmPin covers its guest RAM (and not much more), for a region its State "ready" with
# Populated == Size and the page size asked for, the region gone with the lease, the host clean
# after each QEMU, and the hugepages the hugetlb region took back in the pool.

. /usr/local/lib/vfio-vm/lib.sh

ADDR=0000:01:00.0
GROUP=5
VMM_USER=vmm
VMM_UID=1001
SIZE_MB=${VFIO_VM_MEMORY_MB:-512}
[[ $SIZE_MB =~ ^[1-9][0-9]{1,4}$ ]] && (( SIZE_MB % 2 == 0 )) ||
        fail "VFIO_VM_MEMORY_MB=$SIZE_MB is not an even number of MiB"
SIZE=$((SIZE_MB << 20))
# The waits below are sized for 512 MiB and grow with the guest: filling and pinning take
# seconds per 512 MiB under TCG in TCG.
SCALE=$(( SIZE_MB > 512 ? (SIZE_MB + 511) / 512 : 1 ))

require_daemon
require_host_clean
on_exit restore_host
[[ $(id -u "$VMM_USER" 2>/dev/null) == "$VMM_UID" ]] || fail "no user $VMM_USER with uid $VMM_UID"
command -v qemu-system-x86_64 >/dev/null || fail "qemu-system-x86_64 is not installed in the guest"
qver=$(qemu-system-x86_64 --version | sed -n '1s/.*version \([0-9]*\.[0-9]*\).*/\1/p')
[[ ${qver%%.*} -gt 8 || $qver == 8.[2-9]* ]] || fail "QEMU $qver cannot take a cdev fd (8.2 or later can)"
hp_free=$(< "$HUGEPAGES_2M/free_hugepages")
(( hp_free * 2 >= SIZE_MB )) ||
        fail "$hp_free free 2 MiB hugepages, $SIZE_MB MiB needed (VFIO_VM_HUGEPAGES of run.sh)"
hp_before=$(hugepages_in_use)

allow_claims_by "$VMM_USER" "$ADDR"
AS_VMM=(setpriv --reuid="$VMM_UID" --regid="$VMM_UID" --init-groups --)

QDIR=$TMP/qemu
chmod 711 "$TMP"     # vmm must reach its own directory below the scenario's private one
install -d -m 700 -o "$VMM_UID" -g "$VMM_UID" "$QDIR"
SOCK=$QDIR/qmp.sock
# What vmm runs under assignctl: it records what the lease gave it and when QEMU starts, then
# QEMU with the iommufd object, a root port to hot-plug into, and the region's memory arguments
# (cold: its own SIZE_MB). No vfio-pci device: the scenario adds it over QMP. QEMU's trace of the
# RAM sections it maps for the device (time-stamped, into $QDIR/trace) gives the pin alone.
cat > "$TMP/start-qemu" <<'SCRIPT'
#!/bin/bash
echo "${VFIO_CDEV_FDS#*=}" > "$QDIR/cdev"
echo "${VFIO_REGION:-}" > "$QDIR/region"
echo "${VFIO_MEMFD:-} ${VFIO_MEMORY_SIZE:-}" > "$QDIR/memfd"
echo "${VFIO_QEMU_ARGS:-}" > "$QDIR/qemu-args"
echo "${VFIO_QEMU_MEMORY_ARGS:-}" > "$QDIR/memory-args"
echo "$EPOCHREALTIME" > "$QDIR/started"
exec qemu-system-x86_64 -S -display none -machine q35 -accel tcg -nodefaults \
        ${VFIO_QEMU_MEMORY_ARGS:--m ${SIZE_MB}M} -object "iommufd,id=vfio-iommufd,fd=$VFIO_IOMMUFD_FD" \
        -device pcie-root-port,id=rp0,chassis=1 -qmp "unix:$QDIR/qmp.sock,server=on,wait=off" \
        -msg timestamp=on -D "$QDIR/trace" -trace vfio_listener_region_add_ram \
        -trace iommufd_backend_map_dma
SCRIPT
chmod 755 "$TMP/start-qemu"
export QDIR SIZE_MB
# Realizing the device pins all guest RAM: far longer than any other QMP command under TCG.
QMP_TIMEOUT=$((150 * SCALE))

# region_prop NAME: a property of the region QEMU was given, compact JSON.
region_prop() {
        prop "$(< "$QDIR/region")" "$REGION_IFACE" "$1"
}

# check_region PAGESIZE: the region the lease handed out is filled and what was asked for.
check_region() {
        local path state populated size page
        path=$(< "$QDIR/region")
        [[ $path == "$ROOT_PATH"/region/* ]] || fail "$MODE: VFIO_REGION is '$path', not a region object"
        state=$(region_prop State)
        populated=$(region_prop Populated)
        size=$(region_prop Size)
        page=$(region_prop PageSize)
        [[ $state == '"ready"' ]] || fail "$MODE: region $path is $state, not ready, while QEMU runs"
        [[ $size == "$SIZE" && $populated == "$SIZE" ]] ||
                fail "$MODE: region $path Size $size Populated $populated, want both $SIZE"
        [[ $page == "\"$1\"" ]] || fail "$MODE: region $path PageSize $page, want $1"
        [[ $(< "$QDIR/memfd") == *" $SIZE" ]] || fail "$MODE: VFIO_MEMFD/SIZE: $(< "$QDIR/memfd")"
        # For an iommufd lease the memory arguments lead VFIO_QEMU_ARGS.
        [[ $(< "$QDIR/qemu-args") == "$(< "$QDIR/memory-args") "* ]] ||
                fail "$MODE: VFIO_QEMU_ARGS does not start with VFIO_QEMU_MEMORY_ARGS: $(< "$QDIR/qemu-args")"
        log "$MODE: region $path $(busctl --system --json=short introspect "$BUS" "$path" "$REGION_IFACE" 2>&1 | head -c 600)"
}

# pin_seconds TRACE: from QEMU's first RAM section handed to the IOAS (the listener's
# vfio_listener_region_add_ram) to its last IOMMU_IOAS_MAP returning (iommufd_backend_map_dma),
# from lines "PID@SECONDS:EVENT ..."; empty when the trace has neither.
pin_seconds() {
        awk -F'[@:]' '$3 ~ /^vfio_listener_region_add_ram/ && a == "" { a = $2 }
                $3 ~ /^iommufd_backend_map_dma/ { b = $2 }
                END { if (a != "" && b != "") printf "%.3f", b - a }' "$1" 2>/dev/null
}

qemu_listening() { [[ -S $SOCK ]] || dead "$HOLDER_PID"; }
holder_gone() { dead "$HOLDER_PID"; }
hugepages_back() { [[ $(hugepages_in_use) -eq $hp_before ]]; }

# run_qemu MODE [ASSIGNCTL-MEMORY-OPTIONS...]: one QEMU of the three; sets MODE_S (device_add
# to ready, seconds), PIN_S (the pin alone) and FILL_S (claim and fill to QEMU start) and prints
# the mode's times.
run_qemu() {
        MODE=$1
        shift
        local t_claim started greet_s fill_s cdev t0 reply devices ready_s pin_s pid pin region rc=0
        rm -f "$SOCK" "$QDIR"/{started,region,cdev,trace}
        t_claim=$EPOCHREALTIME
        "${AS_VMM[@]}" assignctl claim "$ADDR" --backend iommufd \
                --memlock "$((SIZE_MB + 512))M" "$@" \
                --exec "$TMP/start-qemu" > "$TMP/$MODE.out" 2> "$TMP/$MODE.err" &
        HOLDER_PID=$!
        BG_PIDS+=("$HOLDER_PID")
        wait_until $((120 * SCALE)) qemu_listening ||
                fail "$MODE: QEMU made no QMP socket in $((120 * SCALE)) s: $(tail -n 3 "$TMP/$MODE.err" | tr '\n' ' ')"
        dead "$HOLDER_PID" && fail "$MODE: assignctl/QEMU as $VMM_USER exited: $(tail -n 4 "$TMP/$MODE.err" | tr '\n' ' ')"
        qmp_connect "$SOCK" ||
                fail "$MODE: no QMP greeting (got '$QMP_GREETING'): $(tail -n 3 "$TMP/$MODE.err" | tr '\n' ' ')"
        started=$(< "$QDIR/started")
        greet_s=$(seconds_since "$started" "$QMP_GREETING_AT")
        fill_s=$(seconds_since "$t_claim" "$started")
        pid=$(qemu_pid_of "$VMM_UID")
        [[ -n $pid ]] || fail "$MODE: no QEMU process of $VMM_USER"
        log "$MODE: QEMU pid $pid VmPin $(status_kb "$pid" VmPin) kB before the device"

        cdev=$(< "$QDIR/cdev")
        [[ $cdev =~ ^[0-9]+$ ]] || fail "$MODE: VFIO_CDEV_FDS gave no fd number: '$cdev'"
        # rombar=0: the firmware that runs later need not execute the NIC's option ROM.
        t0=$EPOCHREALTIME
        reply=$(qmp '{"execute": "device_add", "arguments": {"driver": "vfio-pci",
                "iommufd": "vfio-iommufd", "fd": "'"$cdev"'", "bus": "rp0", "id": "vfio0",
                "rombar": 0}}') || fail "$MODE: device_add got no reply in $QMP_TIMEOUT s"
        ready_s=$(seconds_since "$t0")
        jq -e 'has("return")' >/dev/null <<<"$reply" || fail "$MODE: device_add: $reply"
        pin_s=$(pin_seconds "$QDIR/trace")
        log "$MODE: QEMU's trace: $(grep -c . "$QDIR/trace" 2>/dev/null) lines: $(head -n 12 "$QDIR/trace" 2>/dev/null | tr '\n' '|')"
        reply=$(qmp '{"execute": "qom-get", "arguments": {"path": "/machine/peripheral/vfio0",
                "property": "realized"}}')
        [[ $(jq -c '.return' <<<"$reply") == true ]] || fail "$MODE: vfio0 is not realized: $reply"
        # All guest RAM and a little more (firmware ROMs) is pinned, charged to QEMU.
        pin=$(status_kb "$pid" VmPin)
        [[ -n $pin ]] && (( pin >= SIZE_MB * 1024 && pin <= (SIZE_MB + 32) * 1024 )) ||
                fail "$MODE: QEMU has VmPin ${pin:-?} kB for its $SIZE_MB MiB of RAM"
        # Under -S no firmware has numbered the root port's bus yet, so query-pci cannot list
        # what is behind it: the guest's firmware runs, and then the e1000e must be there.
        qmp '{"execute": "cont"}' > /dev/null || fail "$MODE: cont got no reply"
        vfio0_listed() {
                devices=$(qmp_pci_devices 32902 4307) &&
                        [[ $(jq -c '[.[].qdev_id]' <<<"$devices") == '["vfio0"]' ]]
        }
        wait_until 60 vfio0_listed ||
                fail "$MODE: query-pci does not show the e1000e as vfio0 once the firmware ran: $devices"
        region=
        case $MODE in
        shmem) check_region 4K; region=$(< "$QDIR/region") ;;
        hugetlb) check_region 2M; region=$(< "$QDIR/region") ;;
        esac

        qmp_quit
        wait_until $((60 * SCALE)) holder_gone || fail "$MODE: QEMU and assignctl did not end after quit"
        wait "$HOLDER_PID" || rc=$?
        [[ $rc -eq 0 ]] || fail "$MODE: assignctl claim --exec QEMU exited $rc: $(tail -n 3 "$TMP/$MODE.err" | tr '\n' ' ')"
        wait_until 10 host_restored || fail "$MODE: after QEMU quit: $(host_state)"
        if [[ -n $region ]]; then
                wait_until $((10 * SCALE)) region_gone "$region" || fail "$MODE: region $region outlived its lease"
        fi
        if [[ $MODE == hugetlb ]]; then
                wait_until $((10 * SCALE)) hugepages_back ||
                        fail "hugetlb: $(hugepages_in_use) hugepages in use after the lease, $hp_before before"
        fi
        note "$MODE: device_add (realize, which pins the RAM) ${ready_s} s, of which the pin ${pin_s:-n/a} s (QEMU's trace); QEMU start to QMP greeting ${greet_s} s; claim$([[ -n $region ]] && echo " + fill") to QEMU start ${fill_s} s; VmPin $pin kB"
        MODE_S=$ready_s
        PIN_S=${pin_s:-0}
        FILL_S=$fill_s
}

# The QEMU of the mode that failed: its output, for the trace.
on_exit 'tail -n 20 "$TMP/$MODE.err" >&2'
run_qemu cold
cold_s=$MODE_S pin_cold_s=$PIN_S fill_cold_s=$FILL_S
run_qemu shmem --memory "${SIZE_MB}M"
shmem_s=$MODE_S pin_shmem_s=$PIN_S fill_shmem_s=$FILL_S
run_qemu hugetlb --memory "${SIZE_MB}M" --hugepages 2M
hugetlb_s=$MODE_S pin_hugetlb_s=$PIN_S fill_hugetlb_s=$FILL_S

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", (b > 0 ? a / b : 0) }'; }
note "QEMU $qver, $SIZE_MB MiB: device ready cold ${cold_s} s, shmem region ${shmem_s} s ($(ratio "$cold_s" "$shmem_s")x), hugetlb region ${hugetlb_s} s ($(ratio "$cold_s" "$hugetlb_s")x)"
note "the pin alone (QEMU's trace): cold ${pin_cold_s} s, shmem region ${pin_shmem_s} s ($(ratio "$pin_cold_s" "$pin_shmem_s")x), hugetlb region ${pin_hugetlb_s} s ($(ratio "$pin_cold_s" "$pin_hugetlb_s")x)"
note "BENCH size_mb=$SIZE_MB cold_s=$cold_s shmem_s=$shmem_s hugetlb_s=$hugetlb_s ratio_shmem=$(ratio "$cold_s" "$shmem_s") ratio_hugetlb=$(ratio "$cold_s" "$hugetlb_s") pin_cold_s=$pin_cold_s pin_shmem_s=$pin_shmem_s pin_hugetlb_s=$pin_hugetlb_s pin_ratio_shmem=$(ratio "$pin_cold_s" "$pin_shmem_s") pin_ratio_hugetlb=$(ratio "$pin_cold_s" "$pin_hugetlb_s") fill_cold_s=$fill_cold_s fill_shmem_s=$fill_shmem_s fill_hugetlb_s=$fill_hugetlb_s"
pass
