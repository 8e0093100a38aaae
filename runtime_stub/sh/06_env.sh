# --- env ------------------------------------------------------------------------------

af_snap() {  # NAME: take NAME from the process env into the snapshot (AFE_NAME)
    eval "AFE_$1=\${$1-}"
}

af_on() {  # VALUE: 0 when an on/off env setting is on (1, true, yes, y, on in any case, as the Python runtime reads them)
    case $1 in 1 | [Tt][Rr][Uu][Ee] | [Yy][Ee][Ss] | [Yy] | [Oo][Nn]) return 0 ;; esac
    return 1
}

af_env() {  # NAME [DEFAULT] -> REPLY: the env snapshot's value; "" counts as missing
    eval "REPLY=\${AFE_$1-}"
    [ -n "$REPLY" ] && return 0
    if [ $# -ge 2 ]; then REPLY=$2; return 0; fi
    AF_MISSING="env.$1"
    return 1
}

af_env_file() {  # PATH given with --env-file: a directory, *.json, or a dotenv file
    if [ -d "$1" ]; then af_load_env_file dir "$1" 0 ''
    else
        case $1 in
            *.json) af_load_env_file json "$1" 0 '' ;;
            *) af_load_env_file dotenv "$1" 0 '' ;;
        esac
    fi
}

af_env_dotenv() {  # PATH: KEY=VALUE lines, # comments, optional quotes around values
    while IFS= read -r af_line || [ -n "$af_line" ]; do
        af_line=${af_line%"${af_line##*[![:space:]]}"}
        af_line=${af_line#"${af_line%%[![:space:]]*}"}
        case $af_line in '' | '#'*) continue ;; *=*) ;; *) continue ;; esac
        af_key=${af_line%%=*}; af_key=${af_key%"${af_key##*[![:space:]]}"}
        af_val=${af_line#*=}; af_val=${af_val#"${af_val%%[![:space:]]*}"}
        case $af_val in
            \"*\") af_val=${af_val#\"}; af_val=${af_val%\"} ;;
            \'*\') af_val=${af_val#\'}; af_val=${af_val%\'} ;;
        esac
        [ -n "$af_key" ] && af_set "$af_key" "$af_val"
    done <"$1"
}

# A small JSON reader (awk) for env files: prints shell code for `eval` in which every
# value is single-quoted. MODE "specs": a list of {type, path, optional, prefix} ->
# af_spec lines; MODE "env": one object -> af_set lines, values as Python's str() (nested
# values as json.dumps), null values left out.
af_json_env_awk() {
    LC_ALL=C awk -v mode="$1" "$(cat "$AF_SH_PARTS/json_env.awk")"
}

af_set() {  # NAME VALUE: one env file entry (with the file's prefix), into the snapshot
    af_key=$AF_ENV_PREFIX$1
    case $af_key in
        '' | [0-9]* | *[!A-Za-z0-9_]*) return 0 ;;  # not a name a process env can carry here
    esac
    export "$af_key=$2"
    eval "AFE_$af_key=\$2"
}

af_spec() {  # TYPE PATH OPTIONAL PREFIX: one entry of AETHERFLOW_ENV_FILES_JSON
    af_load_env_file "$1" "$2" "$3" "$4"
}

af_load_env_file() {  # TYPE PATH OPTIONAL PREFIX
    if [ ! -e "$2" ]; then
        [ "$3" = 1 ] && return 0
        af_die "env file not found: $2"
    fi
    # Read errors as the Python artifact words them (exit 2), not a shell warning.
    [ -r "$2" ] || af_die "env file $2 cannot be read: [Errno 13] Permission denied: '$2'"
    AF_ENV_PREFIX=$4
    af_lower "$1" ''
    case $REPLY in
        dotenv | json) [ ! -d "$2" ] || af_die "env file $2 cannot be read: [Errno 21] Is a directory: '$2'" ;;
    esac
    case $REPLY in
        dotenv) af_env_dotenv "$2" ;;
        json)
            af_code=$(AF_JSON_SRC="env file $2" af_json_env_awk env <"$2") || exit 2
            eval "$af_code" ;;
        dir | directory | dir-of-files)
            [ -d "$2" ] || af_die "env file $2: type dir needs a directory"
            [ -x "$2" ] || af_die "env file $2 cannot be read: [Errno 13] Permission denied: '$2'"
            for af_f in "$2"/* "$2"/.*; do
                [ -f "$af_f" ] || continue
                [ -r "$af_f" ] || af_die "env file $2 cannot be read: [Errno 13] Permission denied: '$af_f'"
                af_v=$(cat "$af_f"; printf x); af_v=${af_v%x}
                while :; do case $af_v in *"$AF_NL") af_v=${af_v%"$AF_NL"} ;; *) break ;; esac; done
                af_set "${af_f##*/}" "$af_v"
            done ;;
        *) af_die "env file $2: unsupported type '$1' (use dotenv, json or dir)" ;;
    esac
    AF_ENV_PREFIX=
}

