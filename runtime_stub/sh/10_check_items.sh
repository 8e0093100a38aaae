# --- check_items ----------------------------------------------------------------------

af_check_items() {  # min_count=N count=N: has_data/count; SKIPPED below min_count (an integer of any size)
    af_min=${1#min_count=}; af_count=${2#count=}
    af_intcmp "$af_count" "$af_min"
    if [ "$REPLY" = -1 ]; then
        AF_STEP_STATUS=SKIPPED
        af_result has_data false
        af_result count "$af_count"
        af_result reason "\"count($af_count) < min_count($af_min)\""
    else
        af_result has_data true
        af_result count "$af_count"
    fi
}

# KEY ttl=SECONDS: with_lock's lock, or the step fails. Not reentrant: a lock this run holds is
# held, unless it has expired (a TTL of 0 or less expires at once, as in the engine).
af_lock_step() {
    af_clock_fresh
    af_lock_name "$1"
    case $AF_NL$AF_HELD in
        *"$AF_NL$AF_STATE_DIR/locks/$REPLY.lock$AF_NL"*)
            af_lease "$AF_STATE_DIR/locks/$REPLY.lock"
            if [ -z "$af_owner" ] || [ "$af_expires" -gt "$AF_EPOCH" ]; then
                af_step_fail "Lock not acquired: $1"; return 1
            fi ;;
    esac
    af_lock_acquire "$1" "${2#ttl=}" && return 0
    af_step_fail "Lock not acquired: $1"
    return 1
}

af_split_items() {  # TEXT -> REPLY: how many items a comma-separated string holds (empty parts dropped)
    case $1 in
        *[!"$AF_ASCII"]*)  # parts stripped as str.strip() does
            REPLY=$(printf '%s' "$1" | LC_ALL=C awk -v ws="[\034-\037]|$AF_WS_RE" '{ s = (NR > 1) ? s "\n" $0 : $0 }
            END {
                n = split(s, parts, ","); c = 0
                for (k = 1; k <= n; k++) {
                    p = parts[k]; sub("^(" ws ")+", "", p); sub("(" ws ")+$", "", p)
                    if (p != "") c++
                }
                print c }')
            return 0 ;;
    esac
    af_count=0
    af_rest=$1,
    while [ -n "$af_rest" ]; do
        af_item=${af_rest%%,*}
        af_rest=${af_rest#*,}
        af_item=${af_item#"${af_item%%[![:space:]]*}"}
        af_item=${af_item%"${af_item##*[![:space:]]}"}
        [ -n "$af_item" ] && af_count=$((af_count + 1))
    done
    REPLY=$af_count
}

