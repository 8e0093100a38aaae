# --- paths ----------------------------------------------------------------------------

af_path() {  # PATH -> REPLY: relative to the job's artifacts dir; absolute paths must stay in the workspace
    case $1 in
        /*) REPLY=$1 ;;
        *) REPLY=$AF_ARTIFACTS/$1 ;;
    esac
    [ "$AF_SANDBOX" = 1 ] || return 0
    af_norm "$REPLY"
    case $REPLY in
        "$AF_WORK_ROOT" | "$AF_WORK_ROOT"/*) return 0 ;;
    esac
    AF_ERROR="path '$1' is outside the sandbox (allowed roots: $AF_WORK_ROOT, $AF_ARTIFACTS)"
    return 1
}

af_norm() {  # PATH -> REPLY without . and .. parts (lexically)
    af_out=
    af_rest=${1#/}/
    while [ -n "$af_rest" ]; do
        af_part=${af_rest%%/*}
        af_rest=${af_rest#*/}
        case $af_part in
            '' | .) ;;
            ..) af_out=${af_out%/*} ;;
            *) af_out=$af_out/$af_part ;;
        esac
    done
    REPLY=${af_out:-/}
}

af_path_text() {  # PATH -> REPLY as Python's pathlib writes it: no empty or . parts, no trailing /
    case $1 in ///*) af_lead=/ ;; //*) af_lead=// ;; /*) af_lead=/ ;; *) af_lead= ;; esac
    af_out=; af_rest=$1/
    while [ -n "$af_rest" ]; do
        af_part=${af_rest%%/*}; af_rest=${af_rest#*/}
        case $af_part in '' | .) ;; *) af_out=${af_out:+$af_out/}$af_part ;; esac
    done
    REPLY=$af_lead$af_out; [ -n "$REPLY" ] || REPLY=.
}

