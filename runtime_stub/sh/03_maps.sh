# --- maps of JSON values: lines of  "key": literal  ------------------------------------
# A map is a string of lines, each ending in a newline (a JSON literal never holds a raw
# newline). Loops over lines take the string apart with parameter expansion, here and
# everywhere in this runtime: a here-document costs a pipe and a read(2) per byte in dash.

af_map_set() {  # VAR JSONKEY LITERAL: set or replace (keeps the first position, as dicts do)
    eval "af_todo_map=\${$1}"
    af_new=
    af_found=0
    while [ -n "$af_todo_map" ]; do
        af_entry=${af_todo_map%%"$AF_NL"*}; af_todo_map=${af_todo_map#"$af_entry"}; af_todo_map=${af_todo_map#"$AF_NL"}
        case $af_entry in
            "$2: "*) af_entry="$2: $3"; af_found=1 ;;
        esac
        af_new="$af_new$af_entry$AF_NL"
    done
    [ "$af_found" = 1 ] || af_new="$af_new$2: $3$AF_NL"
    eval "$1=\$af_new"
}

af_map_get() {  # MAP JSONKEY -> REPLY; status 1 when absent
    case $AF_NL$1 in
        *"$AF_NL$2: "*)
            REPLY=$AF_NL$1
            REPLY=${REPLY#*"$AF_NL$2: "}
            REPLY=${REPLY%%"$AF_NL"*}
            return 0 ;;
    esac
    return 1
}

af_map_merge() {  # VAR MAP: every entry of MAP into VAR
    af_todo_merge=$2
    while [ -n "$af_todo_merge" ]; do
        af_entry2=${af_todo_merge%%"$AF_NL"*}; af_todo_merge=${af_todo_merge#"$af_entry2"}; af_todo_merge=${af_todo_merge#"$AF_NL"}
        af_map_set "$1" "${af_entry2%%\": *}\"" "${af_entry2#*\": }"
    done
}

af_map_json() {  # MAP INDENT [pretty] -> REPLY: a JSON object (pretty: nested values laid out too)
    REPLY=
    af_msep=
    af_todo_json=$1
    while [ -n "$af_todo_json" ]; do
        af_entry=${af_todo_json%%"$AF_NL"*}; af_todo_json=${af_todo_json#"$af_entry"}; af_todo_json=${af_todo_json#"$AF_NL"}
        case ${3-}$af_entry in
            pretty*'['* | pretty*'{'*) af_e=$REPLY; af_entry=$(printf '%s' "$af_entry" | af_indent_awk "$2  "); REPLY=$af_e ;;
        esac
        REPLY="$REPLY$af_msep$AF_NL$2  $af_entry"
        af_msep=,
    done
    if [ -n "$REPLY" ]; then REPLY="{$REPLY$AF_NL$2}"; else REPLY='{}'; fi
}

af_indent_awk() {  # INDENT: a one-line `"key": value` on stdin, its lists and mappings laid out as json.dumps(indent=2) does
    LC_ALL=C awk -v base="$1" "$(cat "$AF_SH_PARTS/indent.awk")"
}

