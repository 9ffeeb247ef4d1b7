"""SQLite's own cost of the service's quote and order batches: the same statements, the same
schema (migrations/sqlite), WAL, through Python's sqlite3 (the C library, almost no driver in
between), one batch after another on one thread. The floor for the orders bench's SQLite run.

    python3 user-api-svc/benches/orders/sqlite_floor.py DB_FILE BATCH SECONDS [FULL|NORMAL|OFF]

With V7=1 in the environment, ids are time-ordered (UUIDv7, as the service makes them);
without it, random (UUIDv4, as it made them before). DB_FILE and its -wal/-shm are replaced."""
import os, sqlite3, sys, time, uuid as _uuid, glob
class uuid:
    @staticmethod
    def uuid4():
        if os.environ.get('V7'):
            t = time.time_ns() // 1_000_000
            r = int.from_bytes(os.urandom(10), 'big')
            return _uuid.UUID(int=(t << 80) | (0x7 << 76) | (r & ((1 << 76) - 1)))
        return _uuid.uuid4()
path = sys.argv[1]; batch = int(sys.argv[2]); secs = float(sys.argv[3])
sync = sys.argv[4] if len(sys.argv) > 4 else 'FULL'
for f in glob.glob(path + '*'): os.remove(f)
db = sqlite3.connect(path, isolation_level=None)
db.execute('PRAGMA journal_mode=WAL'); db.execute(f'PRAGMA synchronous={sync}'); db.execute('PRAGMA foreign_keys=ON')
migrations = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', '..', 'migrations', 'sqlite')
for m in sorted(glob.glob(os.path.join(migrations, '*.sql'))):
    db.executescript(open(m).read())
now = lambda: int(time.time() * 1e6)
users = list(range(1, 65))
cols = [r[1] for r in db.execute('PRAGMA table_info(users)')]
for u in users:
    vals = {c: None for c in cols}
    vals.update(id=u, email=f't{u}@x', created_at=now())
    for c in cols:
        if vals[c] is None:
            t = [r for r in db.execute('PRAGMA table_info(users)') if r[1] == c][0]
            if t[3]:  # NOT NULL
                vals[c] = 0 if 'INT' in t[2].upper() else ('user' if c == 'role' else f'{c}{u}')
    db.execute(f"INSERT INTO users ({','.join(cols)}) VALUES ({','.join('?'*len(cols))})", [vals[c] for c in cols])
    db.execute("INSERT INTO balances VALUES (?, 'USD', '1000000', ?)", (u, now()))
def rows(n, k): return ', '.join(['(' + ', '.join('?'*k) + ')'] * n)
def pow2(n):
    out = []
    while n: p = 1 << (n.bit_length() - 1); out.append(p); n -= p
    return out
qn = 0
def quote_batch(n):
    global qn
    ids = []
    db.execute('BEGIN IMMEDIATE')
    us = [users[(qn + i) % 64] for i in range(n)]
    db.execute(f"SELECT user_id, asset, available FROM balances WHERE user_id IN ({','.join('?'*len(us))})", us).fetchall()
    i = 0
    for c in pow2(n):
        args = []
        for _ in range(c):
            qid = str(uuid.uuid4()); ids.append((qid, us[i])); i += 1
            args += [qid, us[i-1], 'BTC/USD', 'buy', '0.0001', '65000.1', '6.50001', '65000', '65000.2', 'bps', '10', '10', '0.006', now(), now() + 60_000_000]
        db.execute(f"INSERT INTO quotes (id, user_id, pair, side, amount, price, total, raw_bid, raw_ask, spread_kind, spread_buy, spread_sell, revenue, created_at, expires_at) VALUES {rows(c, 15)}", args)
    db.execute('COMMIT'); qn += n
    return ids
def order_batch(qs):
    n = len(qs); t = now()
    keys = [(u, str(uuid.uuid4())) for _, u in qs]
    db.execute('BEGIN IMMEDIATE')
    db.execute('SELECT user_id, idem_key FROM idempotency_keys WHERE ' + ' OR '.join(['(user_id = ? AND idem_key = ?)'] * n), [x for k in keys for x in k]).fetchall()
    db.execute(f"SELECT * FROM quotes WHERE id IN ({','.join('?'*n)})", [q for q, _ in qs]).fetchall()
    us = sorted({u for _, u in qs})
    db.execute(f"SELECT user_id, asset, available FROM balances WHERE user_id IN ({','.join('?'*len(us))})", us).fetchall()
    bal = [(u, a) for u in us for a in ('USD', 'BTC')]
    for c in pow2(len(bal)):
        part, bal = bal[:c], bal[c:]
        db.execute(f"INSERT INTO balances (user_id, asset, available, updated_at) VALUES {rows(c, 4)} ON CONFLICT (user_id, asset) DO UPDATE SET available = excluded.available, updated_at = excluded.updated_at",
                   [x for u, a in part for x in (u, a, '999990.5', t)])
    done = 0
    for c in pow2(n):
        part = qs[done:done + c]; done += c
        txids = [r[0] for r in db.execute(f"INSERT INTO ledger_transactions (kind, reference, created_at) VALUES {rows(c, 3)} RETURNING id", [x for q, _ in part for x in ('trade', q, t)]).fetchall()]
        db.execute(f"INSERT INTO ledger_entries (tx_id, account, asset, amount) VALUES {rows(4 * c, 4)}",
                   [x for tx, (q, u) in zip(txids, part) for x in (tx, f'user:{u}', 'USD', '-6.50001', tx, 'house', 'USD', '6.50001', tx, f'user:{u}', 'BTC', '0.0001', tx, 'house', 'BTC', '-0.0001')])
        db.execute(f"INSERT INTO orders (id, quote_id, user_id, pair, side, amount, price, total, revenue, status, ledger_tx_id, created_at) VALUES {', '.join(['(?, ?, ?, ?, ?, ?, ?, ?, ?, ' + repr('filled') + ', ?, ?)'] * c)}",
                   [x for tx, (q, u) in zip(txids, part) for x in (str(uuid.uuid4()), q, u, 'BTC/USD', 'buy', '0.0001', '65000.1', '6.50001', '0.006', tx, t)])
    db.execute(f"UPDATE quotes SET consumed_at = ? WHERE id IN ({','.join('?'*n)})", [t] + [q for q, _ in qs])
    done = 0
    for c in pow2(n):
        part = keys[done:done + c]; done += c
        db.execute(f"INSERT INTO idempotency_keys (user_id, idem_key, request_hash, state, response_status, response_body, created_at) VALUES {rows(c, 6).replace('?, ?, ?, ?, ?, ?', '?, ?, ?, ' + repr('done') + ', ?, ?, ?')}",
                   [x for u, k in part for x in (u, k, b'h' * 32, 201, '{"id":"x","status":"filled","price":"65000.1"}' * 4, t)])
    db.execute('COMMIT')
qt = ot = 0.0; nb = 0
end = time.perf_counter() + secs
while time.perf_counter() < end:
    a = time.perf_counter(); qs = quote_batch(batch); b = time.perf_counter(); order_batch(qs); c = time.perf_counter()
    qt += b - a; ot += c - b; nb += 1
print(f'sync={sync} batch={batch}: {nb} quote+order batch pairs in {secs:.0f} s -> {nb*batch/secs:.0f} orders/s; '
      f'quote batch {qt/nb*1e3:.2f} ms, order batch {ot/nb*1e3:.2f} ms (one thread, serial)')
