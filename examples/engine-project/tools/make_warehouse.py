"""Create the demo warehouse the example flow reads: python3 tools/make_warehouse.py PATH"""

import sqlite3
import sys

with sqlite3.connect(sys.argv[1]) as conn:
    conn.execute(
        "CREATE TABLE IF NOT EXISTS orders(id INTEGER, day TEXT, customer TEXT, total REAL)"
    )
    conn.execute("DELETE FROM orders")
    conn.executemany(
        "INSERT INTO orders VALUES (?, ?, ?, ?)",
        [
            (1, "2026-01-31", "acme", 10.5),
            (2, "2026-01-31", "zeta", 4.25),
            (3, "2026-01-30", "acme", 1.0),
        ],
    )
