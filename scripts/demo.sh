#!/bin/sh
# make demo: validate the examples, compile them, then run every compiled flow the way a
# production host would (python3 and the dist/ directory, nothing else).
set -eu
BIN=${BIN:-.venv/bin}
DEMO=demo
rm -rf "$DEMO"
mkdir -p "$DEMO/inbox"
printf 'id,total\n1,9.50\n' > "$DEMO/inbox/orders-1.csv"
printf 'id,total\n2,12.00\n' > "$DEMO/inbox/orders-2.csv"

echo "== aetherflow validate examples/"
"$BIN/aetherflow" validate examples/
echo "== aetherflow compile examples/flows -o $DEMO/dist"
"$BIN/aetherflow" compile examples/flows -o "$DEMO/dist"

export AETHERFLOW_WORK_ROOT="$PWD/$DEMO/work"
export AETHERFLOW_STATE_ROOT="$PWD/$DEMO/state"
export ORDERS_INBOX="$PWD/$DEMO/inbox"
status=0
for script in "$DEMO"/dist/*.py; do
    echo "== python3 $script run"
    python3 "$script" run || status=$?
done
echo "== python3 $DEMO/dist/inbox_ingest.py run, with files in the inbox"
INBOX_FILES=orders-1.csv,orders-2.csv python3 "$DEMO/dist/inbox_ingest.py" run || status=$?
echo "== python3 $DEMO/dist/daily_orders.py status --json"
python3 "$DEMO/dist/daily_orders.py" status --json
exit $status
