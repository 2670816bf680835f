#!/bin/bash
# The bash completion of assignctl (shell-completion/bash/assignctl): its verbs are assignctl's
# (from --help), every option it offers is one assignctl knows, and it completes verbs, options,
# option values, and the addresses and group numbers of the daemon (a stand-in assignctl prints
# the host report, so no daemon is needed).
set -eu
script=${TOP_SRCDIR:?}/shell-completion/bash/assignctl
assignctl=${ASSIGNCTL:?}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

# shellcheck source=/dev/null
. "$script"

help=$("$assignctl" --help)
want=$(sed -n 's/^  \([a-z][a-z-]*\).*/\1/p' <<<"$help" | sort -u | paste -sd' ')
have=$(tr ' ' '\n' <<<"$_assignctl_verbs" | sort -u | paste -sd' ')
[[ $want == "$have" ]] || fail "verbs: assignctl --help has '$want', the completion '$have'"
for o in $_assignctl_global $(for v in $_assignctl_verbs; do _assignctl_verb_options "$v"; done); do
        grep -q -- "$o" <<<"$help" || fail "the completion offers $o, which assignctl --help does not name"
done

# complete WORD... : the completions of the last word (COMPREPLY, sorted, one line).
complete_words() {
        COMP_WORDS=("$@")
        COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
        _assignctl
        printf '%s\n' "${COMPREPLY[@]}" | sort | paste -sd' '
}
expect() {
        local want=$1 got
        shift
        got=$(complete_words "$@")
        [[ $got == "$want" ]] || fail "'${*:2}': got '$got', want '$want'"
        echo "PASS: completion: ${*:2} -> $want"
}

# A stand-in for assignctl that answers "list" with two devices in groups 5 and 6.
stub=$tmp/assignctl
cat > "$stub" <<'STUB'
#!/bin/sh
echo '{"groups":[{"id":5},{"id":6}],"devices":[{"address":"0000:01:00.0","group":5},{"address":"0000:03:01.0","group":6}]}'
STUB
chmod +x "$stub"

expect "claim" "$stub" cl
expect "policy prepare" "$stub" p
expect "--backend" "$stub" claim --b
expect "auto iommufd type1" "$stub" claim 0000:01:00.0 --backend ""
expect "off on" "$stub" claim 0000:01:00.0 --vf-trust ""
expect "accept check explain reload status" "$stub" policy ""
expect "0000:01:00.0 0000:03:01.0 5 6" "$stub" claim ""
expect "0000:03:01.0" "$stub" release 0000:03
expect "0000:01:00.0 0000:03:01.0" "$stub" prepare ""
expect "0000:01:00.0 0000:03:01.0" "$stub" policy explain ""
expect "--vfio" "$stub" sriov 0000:01:00.0 4 --vf
expect "" "$stub" sriov 0000:01:00.0 ""
expect "--persistent" "$stub" prepare 0000:01:00.0 --p
# Nothing from a daemon that is not there.
expect "" /bin/false claim ""
