# --- the SQLite mirror (opt-in) ------------------------------------------------------
# With AETHERFLOW_SH_SQLITE_MIRROR on, a flow that declares state.backend sqlite also gets
# every job and step status in the engine's tables (job_runs, step_runs) of the declared
# database, written by the sqlite3 command, so that ops queries over that file keep working.
# The file layout stays the state the script reads: a mirror write that fails (a locked or
# full database) is a warning and the run goes on.

af_sql_open() {  # at run start: AF_SQL=1 when the mirror is on
    AF_SQL=0
    af_on "${AETHERFLOW_SH_SQLITE_MIRROR:-}" || return 0
    if [ -z "$AF_SQLITE_DB" ]; then
        af_event WARNING setting_ignored "detail=AETHERFLOW_SH_SQLITE_MIRROR: the flow declares state.backend file, there is no database to mirror to"
        return 0
    fi
    command -v sqlite3 >/dev/null 2>&1 \
        || af_die "AETHERFLOW_SH_SQLITE_MIRROR is on but there is no sqlite3 command on PATH"
    AF_SQL=1
    # The engine's statements, so that the engine finds the tables it would have made.
    af_sql 'PRAGMA journal_mode=WAL;' \
        'CREATE TABLE IF NOT EXISTS job_runs(job_id TEXT NOT NULL, run_id TEXT NOT NULL, status TEXT NOT NULL, updated_at INTEGER NOT NULL, PRIMARY KEY(job_id, run_id));' \
        'CREATE TABLE IF NOT EXISTS step_runs(job_id TEXT NOT NULL, run_id TEXT NOT NULL, step_id TEXT NOT NULL, status TEXT NOT NULL, updated_at INTEGER NOT NULL, PRIMARY KEY(job_id, run_id, step_id));'
}

af_sql() {  # STATEMENT...: run by sqlite3 on the declared database (one transaction each call)
    af_err=$(printf '%s\n' '.timeout 30000' "$@" | LC_ALL=C sqlite3 -batch -bail "$AF_SQLITE_DB" 2>&1 >/dev/null) \
        || af_event WARNING state_mirror_failed "detail=sqlite3 $AF_SQLITE_DB: ${af_err:-exit $?}"
    return 0
}

af_sql_text() {  # TEXT -> REPLY: an SQL string literal
    af_rest=$1; REPLY=
    while :; do
        case $af_rest in
            *"'"*) REPLY="$REPLY${af_rest%%"'"*}''"; af_rest=${af_rest#*"'"} ;;
            *) break ;;
        esac
    done
    REPLY="'$REPLY$af_rest'"
}

af_sql_job() {  # JOB STATUS
    af_sql_text "$1"; af_a=$REPLY; af_sql_text "$AF_RUN_ID"
    af_sql "INSERT OR REPLACE INTO job_runs(job_id, run_id, status, updated_at) VALUES ($af_a, $REPLY, '$2', $AF_EPOCH);"
}

af_sql_step() {  # STEP STATUS
    af_sql_text "$AF_JOB"; af_a=$REPLY; af_sql_text "$1"; af_b=$REPLY; af_sql_text "$AF_RUN_ID"
    af_sql "INSERT OR REPLACE INTO step_runs(job_id, run_id, step_id, status, updated_at) VALUES ($af_a, $REPLY, $af_b, '$2', $AF_EPOCH);"
}

# The run's state directories are made when the run first records something, in the same
# `mkdir` as the first job's workspace: one process fewer per run. run.json (RUNNING)
# follows at once.
af_run_dirs() {  # [DIR...]: the run's directories (the first time), and DIRs
    if [ "$AF_RUN_DIRS" = 1 ]; then
        [ $# = 0 ] || LC_ALL=C mkdir -p "$@" || af_die "cannot create the job's workspace under $AF_WORK_ROOT"
        return 0
    fi
    LC_ALL=C mkdir -p "$AF_RUN_DIR/jobs" "$AF_RUN_DIR/steps" "$@" \
        || af_die "cannot create the run's directories in the state store $AF_STATE_DIR or the workspace $AF_WORK_ROOT"
    AF_RUN_DIRS=1
    af_write_run RUNNING
}

af_write_run() {  # STATUS (updated_at: the last af_clock)
    af_json_str "$AF_FLOW_ID"
    printf '{\n"flow_id": %s,\n"started_ns": %s,\n"status": "%s",\n"updated_at": %s\n}\n' \
        "$REPLY" "$AF_STARTED_NS" "$1" "$AF_EPOCH" >"$AF_RUN_DIR/run.json"
}

af_run_info() {  # RUN_DIR -> AF_I_FLOW (JSON literal), AF_I_STARTED, AF_I_STATUS; 1 if none
    [ -f "$1/run.json" ] || return 1
    AF_I_FLOW=; AF_I_STARTED=0; AF_I_STATUS=
    while IFS= read -r af_line; do
        case $af_line in
            '"flow_id": '*) AF_I_FLOW=${af_line#'"flow_id": '}; AF_I_FLOW=${AF_I_FLOW%,} ;;
            '"started_ns": '*) AF_I_STARTED=${af_line#'"started_ns": '}; AF_I_STARTED=${AF_I_STARTED%,} ;;
            '"status": '*) AF_I_STATUS=${af_line#'"status": '}; AF_I_STATUS=${AF_I_STATUS%,}
                AF_I_STATUS=${AF_I_STATUS#\"}; AF_I_STATUS=${AF_I_STATUS%\"} ;;
        esac
    done <"$1/run.json"
}

af_latest_run() {  # -> AF_LATEST (run id) and AF_LATEST_STATUS; 1 if this flow has none
    af_json_str "$AF_FLOW_ID"; af_want=$REPLY
    AF_LATEST=; AF_LATEST_STATUS=; af_best=-1
    for af_dir in "$AF_STATE_DIR"/runs/*; do
        af_run_info "$af_dir" || continue
        [ "$AF_I_FLOW" = "$af_want" ] || continue
        if [ "$AF_I_STARTED" -gt "$af_best" ]; then
            af_best=$AF_I_STARTED; AF_LATEST=${af_dir##*/}; AF_LATEST_STATUS=$AF_I_STATUS
        fi
    done
    [ -n "$AF_LATEST" ]
}

