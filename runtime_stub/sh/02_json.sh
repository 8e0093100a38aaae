# --- JSON ------------------------------------------------------------------------------

# A string as a JSON literal in REPLY, escaped as Python's json.dumps(ensure_ascii=False).
af_json_str() {
    case $1 in
        *[\"\\]* | *[![:print:]]*) af_json_str_slow "$1" ;;
        *) REPLY="\"$1\"" ;;
    esac
}

af_json_str_slow() {
    REPLY=$(printf '%sx' "$1" | af_json_awk)
}

# stdin -> a JSON string literal; the input ends with one extra character that is dropped.
af_json_awk() {
    LC_ALL=C awk "$(cat "$AF_SH_PARTS/json.awk")"
}

# A JSON literal -> the text Python's str() gives for it, in REPLY. A string that holds a
# NUL (\u0000) loses it here (a shell variable cannot hold one) and sets AF_NUL: the step's
# program cannot be started then, as in Python ("embedded null byte").
af_text() {
    case $1 in
        true) REPLY=True ;;
        false) REPLY=False ;;
        null) REPLY=None ;;
        \"*)
            case $1 in
                *\\*)
                    REPLY=$(printf '%s' "$1" | af_unjson_awk)
                    case $REPLY in *0) AF_NUL=1 ;; esac
                    REPLY=${REPLY%?} ;;
                *) REPLY=${1#\"}; REPLY=${REPLY%\"} ;;
            esac ;;
        \[* | \{*) REPLY=$(printf '%s' "$1" | af_pyrepr_awk) ;;
        *) REPLY=$1 ;;
    esac
}

# A JSON array or object on stdin (one line) -> Python's str() of it: strings quoted as
# repr() quotes them, True/False/None, ", " and ": " between items. repr() escapes the
# characters that are not printable: \t \n \r, \xhh, \uhhhh, \Uhhhhhhhh; bytes that are not
# UTF-8 are \udcXX (as Python's surrogateescape reads them). Non-ASCII characters that are
# not printable, from Python 3.11's str.isprintable() (Unicode 14.0): ranges after 0x7f,
# each "GAP" or "GAP+LENGTH" in hex from the end of the one before.
af_pyrepr_awk() {
    LC_ALL=C awk "$(cat "$AF_SH_PARTS/pyrepr.awk")"
}

af_unjson_awk() {  # a JSON string literal on stdin -> its text, then "x", or "0" when it held a NUL (dropped)
    LC_ALL=C awk "$(cat "$AF_SH_PARTS/unjson.awk")"
}

af_json_items() {  # JSON array literal -> REPLY: its items' JSON literals, one per line
    case $1 in
        '[]') REPLY=; return ;;
    esac
    REPLY=$(printf '%s' "$1" | LC_ALL=C awk '{ s = s $0 } END {
        d = 0; q = 0; item = ""
        for (i = 2; i < length(s); i++) {
            c = substr(s, i, 1)
            if (q) { if (c == "\\") { c = c substr(s, i + 1, 1); i++ } else if (c == "\"") q = 0 }
            else if (c == "\"") q = 1
            else if (c == "[" || c == "{") d++
            else if (c == "]" || c == "}") d--
            else if (c == "," && d == 0) { print item; item = ""; continue }
            else if (c == " " && d == 0) continue
            item = item c
        }
        print item }')
}

af_json_len() {  # JSON array literal -> REPLY: how many items it holds
    [ "$1" = '[]' ] && { REPLY=0; return 0; }
    af_json_items "$1"
    af_n=1
    af_todo=$REPLY
    while :; do
        case $af_todo in *"$AF_NL"*) ;; *) break ;; esac
        af_todo=${af_todo#*"$AF_NL"}
        af_n=$((af_n + 1))
    done
    REPLY=$af_n
}

af_lower() {  # TEXT DEFAULT -> REPLY: TEXT in lower case (ASCII), or DEFAULT when it is empty
    case $1 in
        '') REPLY=$2 ;;
        *[A-Z]*) REPLY=$(printf '%s' "$1" | LC_ALL=C tr '[:upper:]' '[:lower:]') ;;
        *) REPLY=$1 ;;
    esac
}

af_int_list() {  # JSON NAME -> REPLY: " a b " for a list of integers, one integer, or nothing (null)
    case $1 in
        null) REPLY=; return 0 ;;
        \[*) af_json_items "$1" ;;
        *) REPLY=$1 ;;
    esac
    af_todo=$REPLY$AF_NL
    af_codes=
    while [ "$af_todo" != "$AF_NL" ] && [ -n "$af_todo" ]; do
        af_item=${af_todo%%"$AF_NL"*}
        af_todo=${af_todo#*"$AF_NL"}
        af_to_int "$af_item" "$2" || return 1
        af_codes="$af_codes$REPLY "
    done
    REPLY=$af_codes
}

af_argv_json() {  # JSON command|args -> REPLY: the argv items' JSON literals, each on a line of its own
    case $1 in
        \[*) af_json_items "$1"; [ -n "$REPLY" ] && REPLY=$REPLY$AF_NL; return 0 ;;
        \"*) [ "$2" = command ] && { REPLY=$1$AF_NL; return 0; } ;;
        null) [ "$2" = args ] && { REPLY=; return 0; } ;;
    esac
    case $2 in
        command) af_step_fail "external.process inputs.command must be a string or a list" ;;
        *) af_step_fail "external.process inputs.args must be a list" ;;
    esac
}

af_items_count() {  # JSON -> REPLY: how many items check_items counts (a list, or a comma-separated string)
    case $1 in
        \[*) af_json_len "$1" ;;
        \"*) af_text "$1"; af_split_items "$REPLY" ;;
        *) af_step_fail "check_items expects 'items' to be a list or a comma-separated string"; return 1 ;;
    esac
}

af_repr() {  # JSON literal -> REPLY: Python's repr() of the value (for messages)
    REPLY=$(printf '[%s]' "$1" | af_pyrepr_awk)
    REPLY=${REPLY#[}; REPLY=${REPLY%]}
}

# JSON LITERAL NAME [exact] -> REPLY: int() of the value, as Python reads it, in decimal
# digits; the step fails otherwise. With `exact` an integer keeps all its digits (Python's
# ints have no limit); without, one beyond 18 digits is clamped to the shell's 64 bits.
af_to_int() {
    case $1 in
        true) REPLY=1; return 0 ;;
        false) REPLY=0; return 0 ;;
        \"*) af_text "$1"; af_strip "$REPLY" num; af_v=$REPLY ;;
        [0-9]*[eE]* | -[0-9]*[eE]*)  # 1e+20: integral beyond 2^53 (where busybox awk's int() overflows)
            af_v=$(LC_ALL=C awk -v v="$1" 'BEGIN { v += 0; printf "%.0f", (v > 9007199254740992 || v < -9007199254740992) ? v : int(v) }') ;;
        [0-9]*.* | -[0-9]*.*) af_v=${1%%.*} ;;
        *) af_v=$1 ;;
    esac
    af_sign=
    case $af_v in -*) af_sign=-; af_v=${af_v#-} ;; +*) af_v=${af_v#+} ;; esac
    case $af_v in
        '' | *[!0-9]*) af_repr "$1"; af_step_fail "input $2 must be an integer, got $REPLY"; return 1 ;;
    esac
    af_v=${af_v#"${af_v%%[!0]*}"}
    if [ -z "$af_v" ]; then REPLY=0
    elif [ "${#af_v}" -le 18 ] || [ "${3-}" = exact ]; then REPLY=$af_sign$af_v
    elif [ -n "$af_sign" ]; then REPLY=-9223372036854775808
    else REPLY=9223372036854775807
    fi
}

# Python's whitespace as UTF-8 alternatives for awk: what int() and float() strip; str.strip()
# (str.isspace) also strips \034-\037.
AF_WS_RE='[\011-\015 ]|\302\205|\302\240|\341\232\200|\342\200\200|\342\200\201|\342\200\202|\342\200\203|\342\200\204|\342\200\205|\342\200\206|\342\200\207|\342\200\210|\342\200\211|\342\200\212|\342\200\250|\342\200\251|\342\200\257|\342\201\237|\343\200\200'
# The printable ASCII characters: text made of them only is stripped and split here, by
# builtins; other text (a tab, a non-ASCII space) by awk with AF_WS_RE.
AF_ASCII=' !"#$%&'"'"'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\]^_`abcdefghijklmnopqrstuvwxyz{|}~'

af_strip() {  # TEXT [num] -> REPLY: TEXT without the whitespace str.strip() (num: int()) removes at both ends
    case $1 in
        *[!"$AF_ASCII"]*)
            af_ws=$AF_WS_RE
            [ "${2-}" = num ] || af_ws="[\034-\037]|$af_ws"
            REPLY=$(printf '%s' "$1" | LC_ALL=C awk -v ws="$af_ws" '{ p = (NR > 1) ? p "\n" $0 : $0 }
                END { sub("^(" ws ")+", "", p); sub("(" ws ")+$", "", p); printf "%sx", p }')
            REPLY=${REPLY%x} ;;
        *) REPLY=${1#"${1%%[! ]*}"}; REPLY=${REPLY%"${REPLY##*[! ]}"} ;;
    esac
}

af_to_bool() {  # JSON LITERAL NAME -> REPLY 1 or 0: a string by its meaning, anything else by bool()
    case $1 in
        \"*)
            af_text "$1"; af_strip "$REPLY"
            af_lower "$REPLY" ''; af_v=$REPLY
            case $af_v in
                true | yes | on | 1) REPLY=1 ;;
                false | no | off | 0 | '') REPLY=0 ;;
                *) af_repr "$1"; af_step_fail "input $2 must be true or false, got $REPLY"; return 1 ;;
            esac ;;
        *) if af_truthy "$1"; then REPLY=1; else REPLY=0; fi ;;
    esac
}

af_to_num() {  # JSON LITERAL NAME -> REPLY: float() of the value
    case $1 in
        true) REPLY=1 ;;
        false) REPLY=0 ;;
        \"*)
            af_text "$1"; af_strip "$REPLY" num; af_v=$REPLY
            case $af_v in
                '' | *[!0-9.eE+-]* | *.*.*) af_repr "$1"; af_step_fail "input $2 must be a number, got $REPLY"; return 1 ;;
            esac
            REPLY=$af_v ;;
        *) REPLY=$1 ;;
    esac
}

af_truthy() {  # JSON literal: Python's bool() of it
    case $1 in
        false | null | 0 | 0.0 | -0.0 | '""' | '[]' | '{}') return 1 ;;
    esac
    return 0
}

af_wtruthy() {  # JSON literal: the truth of a when operand, where a mapping is always true
    [ "$1" = '{}' ] || af_truthy "$1"  # (the engine's when reads mappings as SimpleNamespace objects)
}

af_kind() {  # JSON literal -> REPLY: num, str, null, other
    case $1 in
        true | false | -[0-9]* | [0-9]*) REPLY=num ;;
        \"*) REPLY=str ;;
        null) REPLY=null ;;
        *) REPLY=other ;;
    esac
}

af_num() {  # JSON literal of a number or a boolean -> REPLY as a number
    case $1 in
        true) REPLY=1 ;;
        false) REPLY=0 ;;
        *) REPLY=$1 ;;
    esac
}

# LEFT OP RIGHT over JSON literals, with Python's semantics; status 0 true, 1 false,
# 2 when Python would raise TypeError (ordering values of different types).
af_cmp() {
    af_kind "$1"; af_lk=$REPLY
    af_kind "$3"; af_rk=$REPLY
    case $2 in
        == | !=)
            if [ "$af_lk" = num ] && [ "$af_rk" = num ]; then
                af_num "$1"; af_a=$REPLY; af_num "$3"
                af_numcmp "$af_a" -eq "$REPLY"; af_r=$?
            elif [ "$1" = "$3" ]; then af_r=0
            else af_r=1
            fi
            if [ "$2" = "!=" ]; then
                [ "$af_r" -eq 0 ] && return 1
                return 0
            fi
            return "$af_r" ;;
    esac
    if [ "$af_lk" = num ] && [ "$af_rk" = num ]; then
        af_num "$1"; af_a=$REPLY; af_num "$3"
        case $2 in
            '<') af_numcmp "$af_a" -lt "$REPLY" ;;
            '<=') af_numcmp "$af_a" -le "$REPLY" ;;
            '>') af_numcmp "$af_a" -gt "$REPLY" ;;
            '>=') af_numcmp "$af_a" -ge "$REPLY" ;;
        esac
        return
    fi
    if [ "$af_lk" = str ] && [ "$af_rk" = str ]; then
        af_text "$1"; af_a=$REPLY; af_text "$3"
        af_strcmp "$af_a" "$2" "$REPLY"
        return
    fi
    return 2
}

# A OP B (-eq -lt -le -gt -ge) for JSON numbers, exactly as Python compares ints of any
# size and floats: integers by builtins, digit by digit beyond 18 digits; floats by awk.
af_numcmp() {
    case $1$3 in
        *[.eE]*) ;;
        *)
            if [ "${#1}" -le 18 ] && [ "${#3}" -le 18 ]; then
                case $2 in
                    -eq) [ "$1" -eq "$3" ] ;;
                    -lt) [ "$1" -lt "$3" ] ;;
                    -le) [ "$1" -le "$3" ] ;;
                    -gt) [ "$1" -gt "$3" ] ;;
                    *) [ "$1" -ge "$3" ] ;;
                esac
                return
            fi
            af_intcmp "$1" "$3"
            case $2 in
                -eq) [ "$REPLY" = 0 ] ;;
                -lt) [ "$REPLY" = -1 ] ;;
                -le) [ "$REPLY" != 1 ] ;;
                -gt) [ "$REPLY" = 1 ] ;;
                *) [ "$REPLY" != -1 ] ;;
            esac
            return ;;
    esac
    # An integer beyond a double's 53 bits against a float: compared with the float's
    # integer part in digits (%.0f of an integral double is exact), then its fraction.
    # (Passed with a prefix: busybox awk would keep a -v value that looks numeric as a double.)
    LC_ALL=C awk -v a="=$1" -v b="=$3" -v op="$2" 'BEGIN {
        c = cmp(substr(a, 2), substr(b, 2))
        r = (op == "-eq") ? c == 0 : (op == "-lt") ? c < 0 : (op == "-le") ? c <= 0 : (op == "-gt") ? c > 0 : c >= 0
        exit !r }
        function isint(x) { return x !~ /[.eE]/ }
        function cmp(a, b) {
            if (isint(a) && length(a) > 15) return bigf(a, b)
            if (isint(b) && length(b) > 15) return -bigf(b, a)
            a += 0; b += 0
            return (a < b) ? -1 : (a > b) ? 1 : 0
        }
        function bigf(i, f,   t, c) {
            f += 0
            if (f > 9007199254740992 || f < -9007199254740992) return intcmp(i, sprintf("%.0f", f))  # an integral double
            t = int(f); c = intcmp(i, sprintf("%.0f", t))
            if (c != 0) return c
            return (f > t) ? -1 : (f < t) ? 1 : 0
        }
        function intcmp(a, b,   sa, sb) {
            sa = (a ~ /^-/) ? -1 : 1; sb = (b ~ /^-/) ? -1 : 1
            sub(/^[-+]?0*/, "", a); sub(/^[-+]?0*/, "", b)
            if (a == "") sa = 1
            if (b == "") sb = 1
            if (sa != sb) return sa
            if (length(a) != length(b)) return (length(a) < length(b)) ? -sa : sa
            return ((a "") < (b "")) ? -sa : ((a "") > (b "")) ? sa : 0
        }'
}

af_intcmp() {  # A B (decimal integers of any length) -> REPLY: -1, 0 or 1 as A is below, equal to or above B
    af_a=${1#-}; af_b=${2#-}; af_sa=1; af_sb=1
    case $1 in -*) af_sa=-1 ;; esac
    case $2 in -*) af_sb=-1 ;; esac
    af_a=${af_a#"${af_a%%[!0]*}"}; af_b=${af_b#"${af_b%%[!0]*}"}
    [ -n "$af_a" ] || { af_a=0; af_sa=1; }
    [ -n "$af_b" ] || { af_b=0; af_sb=1; }
    if [ "$af_sa" != "$af_sb" ]; then REPLY=$af_sa; return 0; fi
    REPLY=0
    if [ "${#af_a}" -ne "${#af_b}" ]; then
        REPLY=1; [ "${#af_a}" -gt "${#af_b}" ] || REPLY=-1
    fi
    while [ "$REPLY" = 0 ] && [ -n "$af_a" ]; do  # as long: 9 digits at a time
        af_x=$af_a; af_y=$af_b; af_a=; af_b=
        if [ "${#af_x}" -gt 9 ]; then
            af_a=${af_x#?????????}; af_x=${af_x%"$af_a"}
            af_b=${af_y#?????????}; af_y=${af_y%"$af_b"}
        fi
        if [ "$af_x" -lt "$af_y" ]; then REPLY=-1; elif [ "$af_x" -gt "$af_y" ]; then REPLY=1; fi
    done
    [ "$af_sa" = 1 ] || REPLY=$((-REPLY))
}

af_strcmp() {  # A OP B by code points (as strings, whatever they look like)
    AF_A=$1 AF_B=$3 LC_ALL=C awk -v op="$2" 'BEGIN {
        a = ENVIRON["AF_A"] ""; b = ENVIRON["AF_B"] ""
        r = (op == "<") ? a < b : (op == "<=") ? a <= b : (op == ">") ? a > b : a >= b
        exit !r }'
}

