#!/bin/sh
# make demo: validate the examples, compile them, then run every compiled flow the way a
# production host would (python3 and the dist/ directory, nothing else).
set -eu
BIN=$(cd "${BIN:-.venv/bin}" && pwd)
DEMO=demo  # examples/aetherflow.toml compiles into ../demo/dist
rm -rf "$DEMO"
mkdir -p "$DEMO/inbox"
printf 'id,total\n1,9.50\n' > "$DEMO/inbox/orders-1.csv"
printf 'id,total\n2,12.00\n' > "$DEMO/inbox/orders-2.csv"
python3 - "$DEMO/sales.sqlite" <<'PY'
import sqlite3, sys
with sqlite3.connect(sys.argv[1]) as conn:
    conn.execute("CREATE TABLE sales(id INTEGER, day TEXT, region TEXT, total REAL)")
    conn.executemany("INSERT INTO sales VALUES (?,?,?,?)",
                     [(1, "2026-01-31", "north", 120.5), (2, "2026-01-31", "south", 80.0),
                      (3, "2026-01-30", "north", 42.0)])
PY

echo "== cd examples && aetherflow validate   (what examples/aetherflow.toml names: flows, profiles, schedule)"
(cd examples && "$BIN/aetherflow" validate)
echo "== aetherflow validate -v examples/   (each YAML file found is checked as what it is: the CI files are skipped, the bundle brings its plugins)"
"$BIN/aetherflow" validate -v examples/
echo "== aetherflow validate --bundle-manifest examples/engine-project/manifest.yaml   (a project written for the engine)"
"$BIN/aetherflow" validate --bundle-manifest examples/engine-project/manifest.yaml
echo "== cd examples && aetherflow compile   (examples/aetherflow.toml: into ../$DEMO/dist, target all, schedule)"
(cd examples && "$BIN/aetherflow" compile)
echo "== aetherflow schedule explain examples/scheduler.yaml -n 2"
"$BIN/aetherflow" schedule explain examples/scheduler.yaml -n 2

export AETHERFLOW_WORK_ROOT="$PWD/$DEMO/work"
export AETHERFLOW_STATE_ROOT="$PWD/$DEMO/state"
export ORDERS_INBOX="$PWD/$DEMO/inbox"
export SALES_DB="$PWD/$DEMO/sales.sqlite"
status=0
for script in "$DEMO"/dist/*.py; do
    echo "== python3 $script run"
    python3 "$script" run || status=$?
done
for script in "$DEMO"/dist/*.sh; do
    echo "== sh $script run   (the POSIX shell artifact: no Python needed)"
    sh "$script" run || status=$?
done
echo "== python3 $DEMO/dist/inbox_ingest.py run, with files in the inbox"
INBOX_FILES=orders-1.csv,orders-2.csv python3 "$DEMO/dist/inbox_ingest.py" run || status=$?
echo "== aetherflow compile --bundle-manifest examples/engine-project/manifest.yaml -o $DEMO/engine-dist, then run it"
"$BIN/aetherflow" compile --bundle-manifest examples/engine-project/manifest.yaml -o "$DEMO/engine-dist" \
    --schedule examples/engine-project/scheduler.yaml
python3 examples/engine-project/tools/make_warehouse.py "$DEMO/warehouse.sqlite"
WAREHOUSE_DB="$PWD/$DEMO/warehouse.sqlite" ORDERS_NOTES="$PWD/$DEMO/orders-notes.txt" \
    python3 "$DEMO/engine-dist/orders_daily.py" run || status=$?
cat "$DEMO/orders-notes.txt"
echo "== python3 $DEMO/dist/daily_orders.py status --json"
python3 "$DEMO/dist/daily_orders.py" status --json
exit $status
