#!/usr/bin/env python3
"""fuzz.py -- call every function of the segment extension with hostile arguments.

Talks to a running server through the psql binary only (standard library,
no driver).  As a superuser it creates a non-superuser role and a few
tables; then, as that role, it enumerates every function of the schema
"segment" from pg_proc (aggregates and internal "_" functions included) and
calls each one many times with arguments drawn per type: NULLs, empty,
huge and two-dimensional arrays, arrays with NULL elements, NaN and
infinities, 0, negative and extreme integers, boundary k and bins,
malformed text for every input function of the extension's types, random
characters, and relations that do not exist, are catalogs or belong to
another role.  Aggregates run over small generated sets, also as window
aggregates and in parallel plans.

Each call runs in a DO block that catches its error and reports the
SQLSTATE as a NOTICE, so one psql process runs a whole batch.  The run
fails on:
  * a crash: the connection is lost, pg_postmaster_start_time() changes or
    the server log says "terminated by signal";
  * a hang: a batch that does not finish (statement_timeout bounds every
    call, so only code that never checks for interrupts can hang);
  * SQLSTATE XX000 (an elog or an internal error reached by user input);
  * SQLSTATE 42601 (a syntax error in SQL that the extension generated),
    except where the caller passed the SQL text itself.
insufficient_privilege (42501) from internal functions is counted as fine.

Deterministic for a given --seed; bounded by --calls and --seconds.
"""
import argparse
import collections
import os
import random
import re
import subprocess
import sys
import time

ROLE = "segment_fuzz"
MARK = "FUZZ"


class Psql:
    def __init__(self, args, user):
        self.cmd = [args.psql, "-X", "-q", "-A", "-t", "-F", "\t", "-v", "ON_ERROR_STOP=0", "-h", args.host, "-p", str(args.port),
                    "-U", user, "-d", args.dbname]

    def run(self, sql, timeout):
        """(returncode, stdout, stderr); returncode None on timeout."""
        try:
            p = subprocess.run(self.cmd, input=sql, capture_output=True, text=True, timeout=timeout,
                               errors="replace")
            return p.returncode, p.stdout, p.stderr
        except subprocess.TimeoutExpired as e:
            return None, e.stdout or "", e.stderr or ""

    def query(self, sql, timeout=60):
        rc, out, err = self.run(sql, timeout)
        if rc != 0 or "ERROR" in (err or ""):
            raise RuntimeError("psql failed (%s): %s\n%s" % (rc, sql[:300], err))
        return out


def lit(s):
    """A SQL string literal, safe for any text (E'' with escapes)."""
    out = []
    for ch in s:
        o = ord(ch)
        if ch == "\\":
            out.append("\\\\")
        elif ch == "'":
            out.append("''")
        elif o < 32 or o == 127:
            out.append("\\x%02x" % o)
        else:
            out.append(ch)
    return "E'" + "".join(out) + "'"


# ---------------------------------------------------------------- values

class V:
    """An argument: its SQL expression, and whether it is SQL text the caller wrote."""
    __slots__ = ("sql", "user_sql")

    def __init__(self, sql, user_sql=False):
        self.sql = sql
        self.user_sql = user_sql


def random_text(rng):
    kind = rng.randrange(5)
    n = rng.choice([0, 1, 2, 5, 20, 100, 300])
    if kind == 0:   # printable ASCII
        return "".join(chr(rng.randrange(32, 127)) for _ in range(n))
    if kind == 1:   # control characters and separators of the text forms
        return "".join(rng.choice(";|:,=*-.\\\t\n\x01 eE+") for _ in range(n))
    if kind == 2:   # any valid code point but NUL and surrogates
        chars = []
        for _ in range(n):
            c = rng.randrange(1, 0x110000)
            if 0xD800 <= c <= 0xDFFF:
                c = 0xFFFD
            chars.append(chr(c))
        return "".join(chars)
    if kind == 3:   # digits and signs
        return "".join(rng.choice("0123456789-+.eE") for _ in range(n))
    return "".join(rng.choice("abcdefghijklmnopqrstuvwxyz_") for _ in range(n))


def mutate(text, rng):
    """A malformed variant of a valid text form."""
    choice = rng.randrange(10)
    if not text:
        return random_text(rng)
    pos = rng.randrange(len(text))
    if choice == 0:
        return text[:pos]                                   # truncated
    if choice == 1:
        return text[:pos] + text[pos + 1:]                  # a character dropped
    if choice == 2:
        return text[:pos] + rng.choice(";|:,=*-.x0 9e") + text[pos:]
    if choice == 3:
        return text + rng.choice([";", ";x=1", "|", ",", " ", "\n"])
    if choice == 4:                                         # a number replaced by an extreme
        nums = list(re.finditer(r"-?\d+(\.\d+)?(e-?\d+)?", text))
        if nums:
            m = rng.choice(nums)
            ext = rng.choice(["0", "-1", "1e308", "-1e308", "1e309", "5e-324", "NaN", "Infinity", "-0",
                              "2147483648", "9223372036854775807", "9223372036854775808",
                              "-9223372036854775808", "1001", "1000", "99999999999999999999", "", "1.5"])
            return text[:m.start()] + ext + text[m.end():]
        return text[:pos]
    if choice == 5:
        return text.replace("|", rng.choice(["||", "", ",", "|x"]), 1)
    if choice == 6:
        return text.replace(",", rng.choice([",,", "", ";", ",NaN"]), 1)
    if choice == 7:                                         # duplicate a piece
        a = rng.randrange(len(text))
        b = min(len(text), a + rng.randrange(1, 40))
        return text[:b] + text[a:b] + text[b:]
    if choice == 8:
        return text.upper()
    return random_text(rng)


class Values:
    """Argument pools by type name (format_type of pg_proc.proargtypes)."""

    def __init__(self, rng, samples):
        self.rng = rng
        self.samples = samples          # type -> list of valid text forms
        f8 = ["0", "1", "-1", "0.5", "42", "'NaN'", "'Infinity'", "'-Infinity'", "1e308", "-1e308",
              "5e-324", "-0.0", "1e-300", "123456789.125"]
        self.pools = {
            "double precision": [x + "::float8" for x in f8],
            "integer": ["0", "1", "2", "3", "5", "-1", "-2147483648", "2147483647", "99", "100", "101",
                        "999", "1000", "1001", "10", "50000", "50001"],
            "bigint": ["0::int8", "1::int8", "-1::int8", "42::int8", "9223372036854775807::int8",
                       "(-9223372036854775807 - 1)::int8", "2147483648::int8"],
            "boolean": ["true", "false"],
            "interval": ["'0'::interval", "'-1 day'::interval", "'1 microsecond'::interval",
                         "'1 second'::interval", "'7 days'::interval", "'1 month'::interval",
                         "'178000000 years'::interval", "'-178000000 years'::interval",
                         "'1 day -86400 seconds'::interval"],
            "timestamp with time zone": ["'infinity'::timestamptz", "'-infinity'::timestamptz",
                                         "'2024-01-01 00:00:00+00'::timestamptz", "'epoch'::timestamptz",
                                         "'4713-01-01 00:00:00+00 BC'::timestamptz",
                                         "'294276-12-31 23:59:59+00'::timestamptz",
                                         "'2021-06-30 12:00:00+00'::timestamptz"],
            "date": ["'infinity'::date", "'-infinity'::date", "'2024-01-01'::date", "'5874897-12-31'::date",
                     "'4713-01-01 BC'::date", "'2000-02-29'::date"],
            "jsonb": ["'{}'::jsonb", "'[]'::jsonb", "'1'::jsonb", "'null'::jsonb", "'\"x\"'::jsonb",
                      "'{\"seed\": 1}'::jsonb", "'{\"seed\": 1.5}'::jsonb", "'{\"seed\": 1e30}'::jsonb",
                      "'{\"n_init\": 0}'::jsonb", "'{\"n_init\": 100}'::jsonb", "'{\"n_init\": 101}'::jsonb",
                      "'{\"max_iter\": 1}'::jsonb", "'{\"max_iter\": 10001}'::jsonb",
                      "'{\"tol\": 0}'::jsonb", "'{\"tol\": 1}'::jsonb", "'{\"tol\": -1}'::jsonb",
                      "'{\"tol\": 1e400}'::jsonb", "'{\"tol\": \"x\"}'::jsonb",
                      "'{\"standardize\": false}'::jsonb", "'{\"standardize\": 1}'::jsonb",
                      "'{\"allow_fewer_clusters\": true}'::jsonb",
                      "'{\"allow_fewer_clusters\": true, \"standardize\": false, \"n_init\": 1}'::jsonb",
                      "'{\"bogus\": 1}'::jsonb", "'{\"seed\": {\"a\": 1}}'::jsonb", "'{\"seed\": null}'::jsonb",
                      "'{\"seed\": 1, \"seed\": 2}'::jsonb"],
            "regclass": ["0::regclass", "999999::regclass", "'pg_class'::regclass", "'pg_authid'::regclass",
                         "'segment.segmentations'::regclass", "'segment.runs'::regclass",
                         "'segment.segment_summary'::regclass", "'fuzz.feats'::regclass",
                         "'fuzz.orders'::regclass", "'fuzz.v_orders'::regclass", "'fuzz.seq'::regclass",
                         "'fuzz_secret.orders'::regclass", "'demo.orders'::regclass",
                         "'demo.touchpoints'::regclass", "'demo.spend'::regclass", "'demo.carts'::regclass",
                         "'fuzz.fz_user_segments'::regclass", "'public.fz_admin_segments'::regclass",
                         "'pg_catalog.pg_proc'::regclass", "'fuzz.attributed'::regclass"],
            "regclass[]": ["'{}'::regclass[]", "ARRAY[0]::oid[]::regclass[]", "ARRAY['pg_authid'::regclass]",
                           "ARRAY['fuzz.orders'::regclass, 'fuzz_secret.orders'::regclass]",
                           "ARRAY['public.fz_admin_segments'::regclass]", "ARRAY[NULL::regclass]"],
            "regrole": ["0::regrole", "999999::regrole", "'postgres'::regrole", "'%s'::regrole" % ROLE,
                        "'pg_read_all_data'::regrole", "'pg_write_all_data'::regrole"],
            "regtype[]": ["'{}'::regtype[]", "'{int4,text}'::regtype[]", "ARRAY[NULL::regtype]",
                          "'{timestamptz,timestamp,date}'::regtype[]", "ARRAY[0]::oid[]::regtype[]"],
            "name": [x + "::name" for x in ["''", "'x'", "'amount'", "'customer_id'", "'ordered_at'",
                                            "'order_id'", "'channel'", "'touched_at'", "'day'", "'cost'",
                                            "'f'", "'features'", "'oid'", "'ctid'", "'xmin'",
                                            "'a\"b'", "'a b'", "'select'", "repeat('n', 100)",
                                            "'rolpassword'", "'secret'"]],
        }
        self.text_pool = ["", "x", "fz_admin", "fz_user", "fz_gone", "nonexistent", "customers",
                          "first_touch", "last_touch", "linear", "position_based", "time_decay", "markov",
                          "@daily", "@hourly", "@yearly", "@bogus", "*/15 * * * *", "0 0 30 2 *",
                          "99 * * * *", "* * * *", "* * * * * *", "1-0 * * * *", "*/0 * * * *",
                          "5/1000 * * * *", "0 0 * * 7", "30 seconds", "0 seconds", "-1 day", "1 day",
                          "100000000 years", "UTC", "Europe/Paris", "Mars/Olympus", "failed", "skipped",
                          "running", "fuzz.fz_user_segments", "public.fz_admin_segments", "a.b.c",
                          "\"weird name\"", "pg_catalog.pg_class", "%s %I %L %1$s", "'); DROP TABLE x; --",
                          "$$", "\\", "'", "\"", ";", "a" * 49, "a" * 48, "é" * 20, "x" * 100000]

    def pick(self, typ, arg_name=""):
        rng = self.rng
        if rng.random() < 0.12:
            return V("NULL::" + cast_name(typ))
        if typ in ("text", "cstring"):
            return self.text(arg_name, typ)
        if typ == "name":
            if rng.random() < 0.2:
                return V(lit(random_text(rng)) + "::name")
            return V(rng.choice(self.pools["name"]))
        if typ in self.pools:
            return V(rng.choice(self.pools[typ]))
        if typ == "double precision[]":
            return V(self.float_array())
        if typ == "text[]":
            return V(self.text_array())
        if typ == "timestamp with time zone[]":
            return V(self.ts_array())
        if typ.startswith("segment.") and typ[len("segment."):] in self.samples:
            return V(lit(self.type_text(typ[len("segment."):])) + "::" + typ)
        if typ == "segment.segmentations":
            return V(self.segmentation_row())
        return V("NULL::" + cast_name(typ))

    def text(self, arg_name, typ):
        rng = self.rng
        if arg_name == "query":
            r = rng.random()
            if r < 0.5:
                q = rng.choice(["SELECT features FROM fuzz.feats", "SELECT NULL::float8[] FROM fuzz.feats",
                                "SELECT ARRAY[1,2]::float8[]", "SELECT features FROM fuzz.feats WHERE false",
                                "SELECT ARRAY[x]::float8[] FROM generate_series(1, 30) x",
                                "SELECT ARRAY[1, NULL]::float8[]", "SELECT '{NaN}'::float8[]",
                                "SELECT '{{1,2},{3,4}}'::float8[]", "SELECT array_fill(1::float8, ARRAY[1001])",
                                "SELECT 1", "SELECT features, features FROM fuzz.feats",
                                "INSERT INTO fuzz.feats VALUES (NULL)", "SELECT features FROM fuzz_secret.orders",
                                "SELECT features FROM fuzz.feats; SELECT 1",
                                "SELECT ARRAY[x, 1e308]::float8[] FROM generate_series(1, 20) x",
                                "SELECT ARRAY[x * 1e300, -x * 1e300]::float8[] FROM generate_series(1, 20) x",
                                "VALUES (ARRAY[1.5]::float8[]), (ARRAY[2.5]::float8[])", ""])
                return V(lit(q) + "::" + typ, user_sql=True)
            return V(lit(mutate("SELECT features FROM fuzz.feats", rng)) + "::" + typ, user_sql=True)
        r = rng.random()
        if typ == "cstring" or r < 0.15:
            # cstring: the input functions; draw from every type's text forms
            if self.samples and rng.random() < 0.7:
                t = rng.choice(sorted(self.samples))
                return V(lit(self.type_text(t)) + "::" + typ)
        if r < 0.35:
            return V(lit(random_text(rng)) + "::" + typ)
        if r < 0.45:
            return V(lit(mutate(rng.choice(self.text_pool[13:24]), rng)) + "::" + typ)
        return V(lit(rng.choice(self.text_pool)) + "::" + typ)

    def type_text(self, t):
        rng = self.rng
        base = rng.choice(self.samples[t])
        return base if rng.random() < 0.25 else mutate(base, rng)

    def float_array(self):
        rng = self.rng
        return rng.choice([
            "'{}'::float8[]", "'{NULL}'::float8[]", "'{1,NULL}'::float8[]", "'{1}'::float8[]",
            "'{1,2}'::float8[]", "'{2,1}'::float8[]", "'{1,2,3}'::float8[]", "'{NaN}'::float8[]",
            "'{1,Infinity}'::float8[]", "'{-Infinity,1}'::float8[]", "'{{1,2},{3,4}}'::float8[]",
            "'[0:1]={1,2}'::float8[]", "'[-5:-5]={7}'::float8[]", "'{1e308,-1e308}'::float8[]",
            "'{5e-324,0}'::float8[]", "array_fill(1::float8, ARRAY[1000])", "array_fill(1::float8, ARRAY[1001])",
            "array_fill(0.5::float8, ARRAY[100000])", "array_fill(NULL::float8, ARRAY[3])",
            "'{{{1}}}'::float8[]", "'{0,0,0}'::float8[]", "'{-1,-2,-3}'::float8[]",
            "ARRAY[%s, %s]::float8[]" % (rng.uniform(-10, 10), rng.uniform(-10, 10)),
            "ARRAY[%s]::float8[]" % rng.choice(["1", "2", "3", "1e300", "-1e300"]),
        ])

    def text_array(self):
        rng = self.rng
        return rng.choice([
            "'{}'::text[]", "'{NULL}'::text[]", "'{a,NULL,b}'::text[]", "'{email}'::text[]",
            "'{email,search,email}'::text[]", "'{a,a,a}'::text[]", "'{{a,b},{c,d}}'::text[]",
            "ARRAY['']", "ARRAY[repeat('c', 255)]", "ARRAY[repeat('c', 256)]",
            "ARRAY['a|b', 'c;d', 'e\\\\f']", "array_fill('x'::text, ARRAY[100000])",
            "(SELECT array_agg('c' || i) FROM generate_series(1, 1001) i)",
            "(SELECT array_agg('c' || i) FROM generate_series(1, 60) i)",
            "ARRAY[%s]" % lit(random_text(rng)), "'[0:1]={x,y}'::text[]",
        ])

    def ts_array(self):
        rng = self.rng
        return rng.choice([
            "'{}'::timestamptz[]", "'{NULL}'::timestamptz[]", "ARRAY['infinity'::timestamptz]",
            "ARRAY['-infinity'::timestamptz, '2024-01-01'::timestamptz]",
            "ARRAY['2024-01-01'::timestamptz, '2024-01-02', '2024-01-01']::timestamptz[]",
            "'{{2024-01-01,2024-01-02},{2024-01-03,2024-01-04}}'::timestamptz[]",
            "array_fill('2024-01-01'::timestamptz, ARRAY[100000])",
            "ARRAY['4713-01-01 BC'::timestamptz, '294276-12-31'::timestamptz]",
        ])

    def segmentation_row(self):
        rng = self.rng
        name = rng.choice(["fz_user", "fz_admin"])
        base = "(SELECT s FROM segment.segmentations AS s WHERE s.name = '%s')" % name
        if rng.random() < 0.3:
            return base
        field, value = rng.choice([
            ("orders", "pg_authid"), ("orders", "fuzz_secret.orders"), ("orders", "0"), ("orders", "999999"),
            ("target_table", "public.fz_admin_segments"), ("target_table", "pg_class"),
            ("history_table", "pg_authid"), ("owner", "postgres"), ("owner", "0"),
            ("customer_column", "rolpassword"), ("amount_column", "x\"; DROP TABLE fuzz.feats; --"),
            ("time_column", ""), ("bins", "0"), ("bins", "1000"), ("clusters", "-1"), ("clusters", "100000"),
            ("name", "fz_admin"), ("touchpoints", "fuzz_secret.orders"), ("spend", "pg_authid"),
            ("lookback", "-1 day"), ("vip_share", "NaN"), ("half_life", "0"),
        ])
        return "jsonb_populate_record(%s, jsonb_build_object(%s, %s))" % (base, lit(field), lit(value))


def cast_name(typ):
    return {"double precision": "float8", "timestamp with time zone": "timestamptz",
            "timestamp with time zone[]": "timestamptz[]"}.get(typ, typ)


# ---------------------------------------------------------------- calls

def call_sql(fn, args, vals):
    """A statement calling fn once."""
    a = ", ".join(v.sql for v in vals)
    if fn["kind"] == "a":
        return None
    return "PERFORM * FROM %s(%s)" % (fn["qname"], a) if fn["retset"] or fn["composite"] \
        else "PERFORM %s(%s)" % (fn["qname"], a)


def aggregate_sql(fn, values, rng):
    """An aggregate over a few generated rows, plain, as a window, or in a parallel plan."""
    types = fn["args"]
    nrows = rng.choice([0, 1, 2, 3, 5, 8])
    cols = ["a%d" % i for i in range(len(types))]
    # constant arguments (k, bins, seed, options) mostly the same on every row
    consts = [values.pick(t, n) for t, n in zip(types, fn["argnames"])]
    rows = []
    for _ in range(nrows):
        row = []
        for i, t in enumerate(types):
            if t in ("integer", "bigint", "jsonb") and rng.random() < 0.85:
                row.append(consts[i].sql)
            elif t == "segment.kmeans_model" and rng.random() < 0.9:
                row.append(consts[i].sql)
            else:
                row.append(values.pick(t).sql)
        rows.append("(" + ", ".join(row) + ")")
    call = "%s(%s)" % (fn["qname"], ", ".join(cols))
    if nrows == 0:
        src = "(SELECT %s WHERE false) AS t(%s)" % (", ".join(v.sql for v in consts), ", ".join(cols))
    else:
        src = "(VALUES %s) AS t(%s)" % (", ".join(rows), ", ".join(cols))
    form = rng.random()
    if form < 0.15:
        return "PERFORM %s OVER (ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) FROM %s" % (call, src)
    if form < 0.25 and nrows > 0:
        return "PERFORM %s FROM %s GROUP BY (%s)::text" % (call, src, cols[-1])
    return "PERFORM %s FROM %s" % (call, src)


def parallel_aggregate_sql(fn, rng):
    """The aggregate in a parallel plan over fuzz.par: partial states, the combine function."""
    cols = {"double precision[]": "f", "text[]": "p", "boolean": "c", "double precision": "v",
            "integer": "k", "bigint": "s", "jsonb": "'{}'::jsonb"}
    exprs = []
    for t in fn["args"]:
        if t == "segment.kmeans_model":
            exprs.append("(SELECT model FROM fuzz.models LIMIT 1)")
        elif t in cols:
            exprs.append(cols[t])
        else:
            return None
    where = rng.choice(["true", "false", "i % 97 = 0", "i < 3", "f IS NULL", "p IS NULL"])
    return "PERFORM %s(%s) FROM fuzz.par WHERE %s" % (fn["qname"], ", ".join(exprs), where)


def do_block(idx, stmt):
    return ("DO $fz$ BEGIN " + stmt + "; RAISE NOTICE '" + MARK + " % ok', " + str(idx) + "; "
            "EXCEPTION WHEN OTHERS THEN RAISE NOTICE '" + MARK + " % % %', " + str(idx) +
            ", SQLSTATE, replace(SQLERRM, E'\\n', ' '); END $fz$;\n")


NOTICE_RE = re.compile(r"^(?:psql:[^ ]* )?NOTICE:  %s (\d+) (ok|(\w{5}) (.*))$" % MARK)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--psql", default="psql")
    ap.add_argument("--host", default=os.environ.get("PGHOST", "/tmp"))
    ap.add_argument("--port", type=int, default=int(os.environ.get("PGPORT", "5432")))
    ap.add_argument("--dbname", default="postgres")
    ap.add_argument("--superuser", default="postgres")
    ap.add_argument("--seed", type=int, default=20240601)
    ap.add_argument("--calls", type=int, default=6000, help="call budget")
    ap.add_argument("--seconds", type=float, default=60.0, help="time budget for the calls")
    ap.add_argument("--batch", type=int, default=150)
    ap.add_argument("--statement-timeout", default="3s")
    ap.add_argument("--batch-timeout", type=float, default=60.0, help="seconds before a batch counts as a hang")
    ap.add_argument("--log", help="the server log, searched for 'terminated by signal'")
    ap.add_argument("--only", help="regular expression: fuzz only the functions whose name matches")
    ap.add_argument("--verbose", action="store_true", help="print every call's outcome")
    ap.add_argument("--report", help="write every call's outcome (index, function, SQLSTATE, message) here")
    args = ap.parse_args()

    rng = random.Random(args.seed)
    su = Psql(args, args.superuser)
    user = Psql(args, ROLE)
    log_start = os.path.getsize(args.log) if args.log and os.path.exists(args.log) else 0

    su.query(SETUP_SQL)
    user.query(USER_SETUP_SQL)
    start_time = su.query("SELECT pg_postmaster_start_time();").strip()

    # valid text forms of the extension's types, to mutate
    samples = collections.defaultdict(list)
    for line in user.query(SAMPLES_SQL).splitlines():
        if "|" in line:
            t, text = line.split("|", 1)
            samples[t].append(text)
    for t, extra in STATIC_SAMPLES.items():
        samples[t].extend(extra)
    values = Values(rng, dict(samples))

    fns = []
    for line in su.query(FUNCTIONS_SQL).splitlines():
        if not line:
            continue
        oid, qname, kind, retset, composite, argtypes, argnames, ndefaults = line.split("\t")
        argtypes = argtypes.split(",") if argtypes else []
        argnames = argnames.split(",") if argnames else []
        argnames += [""] * (len(argtypes) - len(argnames))
        if args.only and not re.search(args.only, qname):
            continue
        fns.append(dict(oid=oid, qname=qname, kind=kind, retset=retset == "t", composite=composite == "t",
                        args=argtypes, argnames=argnames, ndefaults=int(ndefaults)))
    print("fuzz: %d functions of schema segment, seed %d, budget %d calls / %.0f s"
          % (len(fns), args.seed, args.calls, args.seconds))

    # the calls, decided up front so that a seed gives the same run
    calls = []
    per_fn = collections.Counter()
    while len(calls) < args.calls:
        for fn in fns:
            if len(calls) >= args.calls:
                break
            stmt = None
            user_sql = False
            if fn["kind"] == "a":
                if rng.random() < 0.15:
                    stmt = parallel_aggregate_sql(fn, rng)
                if stmt is None:
                    stmt = aggregate_sql(fn, values, rng)
            elif fn["kind"] == "w":
                v = [values.pick(t, n) for t, n in zip(fn["args"], fn["argnames"])]
                stmt = "PERFORM %s(%s) OVER (%s) FROM generate_series(1, %d) AS g(i)" % (
                    fn["qname"], ", ".join(x.sql for x in v), rng.choice(["", "ORDER BY i", "PARTITION BY i % 2"]),
                    rng.choice([1, 2, 5, 2000]))
            else:
                n = len(fn["args"])
                if fn["ndefaults"] and rng.random() < 0.3:
                    n -= rng.randrange(fn["ndefaults"] + 1)
                vals = [values.pick(t, nm) for t, nm in zip(fn["args"][:n], fn["argnames"][:n])]
                user_sql = any(x.user_sql for x in vals)
                stmt = call_sql(fn, fn["args"][:n], vals)
            calls.append((fn["qname"] + "(" + ",".join(fn["args"]) + ")", stmt, user_sql))
            per_fn[fn["qname"]] += 1

    setup = ("SET statement_timeout = '%s';\nSET parallel_setup_cost = 0;\nSET parallel_tuple_cost = 0;\n"
             "SET min_parallel_table_scan_size = 0;\nSET max_parallel_workers_per_gather = 2;\n"
             "SET client_min_messages = notice;\n" % args.statement_timeout)
    report = open(args.report, "w") if args.report else None
    results = collections.Counter()         # sqlstate -> calls
    findings = []                           # (kind, function, sqlstate, message, statement)
    done = 0
    t0 = time.time()
    stopped_early = False
    i = 0
    while i < len(calls):
        if time.time() - t0 > args.seconds:
            stopped_early = True
            break
        batch = calls[i:i + args.batch]
        script = setup + "".join(do_block(i + j, stmt) for j, (_, stmt, _) in enumerate(batch))
        rc, out, err = user.run(script, timeout=args.batch_timeout)
        seen = set()
        for line in err.splitlines():
            m = NOTICE_RE.match(line)
            if not m:
                continue
            idx = int(m.group(1))
            seen.add(idx)
            fname, stmt, user_sql = calls[idx]
            state = "ok" if m.group(2) == "ok" else m.group(3)
            results[state] += 1
            msg = m.group(4) or ""
            if state == "XX000":
                findings.append(("XX000", fname, state, msg, stmt))
            elif state == "42601" and not user_sql:
                findings.append(("syntax error in generated SQL", fname, state, msg, stmt))
            elif state.startswith("XX") or state == "P0001" or state == "58000":
                findings.append(("note", fname, state, msg, stmt))
            if args.verbose:
                print(idx, fname, state, msg[:200])
            if report:
                report.write("%d\t%s\t%s\t%s\t%s\n" % (idx, fname, state, msg, stmt))
        missing = [i + j for j in range(len(batch)) if i + j not in seen]
        if rc is None:
            first = missing[0] if missing else i
            findings.append(("hang (batch did not finish)", calls[first][0], "", "", calls[first][1]))
            print("fuzz: HANG in call %d, stopping" % first)
            done += len(seen)
            break
        if missing:
            lost = "server closed the connection" in err or "connection to server was lost" in err
            timeouts = err.count("canceling statement due to statement timeout")
            if not lost and timeouts >= len(missing):
                # statement_timeout is not caught by WHEN OTHERS: an interruptible slow call
                results["57014"] += len(missing)
                for idx in missing:
                    findings.append(("note", calls[idx][0], "57014", "statement timeout", calls[idx][1]))
                done += len(batch)
                i += len(batch)
                continue
            first = missing[0]
            kind = "crash" if lost else "call not reported"
            findings.append((kind, calls[first][0], "", err.strip().splitlines()[-1] if err.strip() else "",
                             calls[first][1]))
            if lost:
                print("fuzz: CRASH in call %d (%s); waiting for the server to restart" % (first, calls[first][0]))
                for _ in range(60):
                    time.sleep(1)
                    if user.run("SELECT 1;", 10)[0] == 0:
                        break
            done += len(seen)
            i = first + 1
            continue
        done += len(batch)
        i += len(batch)
    elapsed = time.time() - t0

    now_start = su.run("SELECT pg_postmaster_start_time();", 30)[1].strip()
    if now_start != start_time:
        findings.append(("crash", "(server)", "", "pg_postmaster_start_time() changed: %s -> %s"
                         % (start_time, now_start), ""))
    if args.log and os.path.exists(args.log):
        with open(args.log, errors="replace") as f:
            f.seek(log_start)
            for line in f:
                if "terminated by signal" in line or "was terminated by exception" in line:
                    findings.append(("crash", "(server log)", "", line.strip(), ""))

    # the summary
    print("fuzz: %d calls in %.1f s%s" % (done, elapsed, " (time budget reached)" if stopped_early else ""))
    print("fuzz: outcomes: " + ", ".join("%s %d" % (k, v) for k, v in sorted(results.items(), key=lambda x: -x[1])))
    print("fuzz: insufficient_privilege (42501), counted as fine: %d" % results.get("42501", 0))
    failing = [f for f in findings if f[0] != "note"]
    notes = [f for f in findings if f[0] == "note"]
    crashes = [f for f in findings if f[0] == "crash"]
    print("fuzz: crashes: %d" % len(crashes))
    shown = set()
    for kind, fname, state, msg, stmt in failing + notes:
        key = (kind, fname, state, msg[:80], stmt if kind == "crash" else "")
        if key in shown:
            continue
        shown.add(key)
        print("%s: %s %s %s\n    %s" % ("FAIL" if kind != "note" else "note", kind, fname,
                                        (state + " " + msg)[:300], stmt[:600]))
    if failing:
        print("fuzz: FAILED: %d finding(s)" % len(failing))
        return 1
    print("fuzz: passed (no crash, no XX000, no syntax error from generated SQL)")
    return 0


SETUP_SQL = r"""
SET client_min_messages = warning;
DO $$ BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'segment_fuzz') THEN
        CREATE ROLE segment_fuzz LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE;
    END IF;
END $$;
DROP SCHEMA IF EXISTS fuzz_secret CASCADE;
CREATE SCHEMA fuzz_secret;
CREATE TABLE fuzz_secret.orders AS
    SELECT i AS customer_id, now() - i * interval '1 day' AS ordered_at, i::numeric AS amount,
           ARRAY[i, i]::float8[] AS features
    FROM generate_series(1, 20) AS i;
CREATE SCHEMA IF NOT EXISTS fuzz AUTHORIZATION segment_fuzz;
GRANT USAGE ON SCHEMA fuzz_secret TO segment_fuzz;
"""

USER_SETUP_SQL = r"""
SET client_min_messages = warning;
DROP TABLE IF EXISTS fuzz.feats, fuzz.par, fuzz.models, fuzz.attributed;
DROP VIEW IF EXISTS fuzz.v_orders;
DROP SEQUENCE IF EXISTS fuzz.seq;
CREATE TABLE fuzz.feats AS
    SELECT ARRAY[(i % 7)::float8, (i * 13 % 11)::float8] AS features FROM generate_series(1, 60) AS i
    UNION ALL SELECT NULL;
CREATE TABLE fuzz.par AS
    SELECT i, CASE WHEN i % 50 = 0 THEN NULL ELSE ARRAY[(i % 5)::float8, (i % 3)::float8] END AS f,
           CASE WHEN i % 40 = 0 THEN NULL ELSE ARRAY['c' || (i % 4), 'c' || (i % 3)] END AS p,
           i % 3 = 0 AS c, (i % 17)::float8 AS v, 3 AS k, 7::int8 AS s
    FROM generate_series(1, 20000) AS i;
ANALYZE fuzz.par;
CREATE TABLE fuzz.models AS SELECT segment.kmeans(features, 3) AS model FROM fuzz.feats;
CREATE VIEW fuzz.v_orders AS SELECT * FROM fuzz.orders;
CREATE SEQUENCE fuzz.seq;
CREATE TABLE fuzz.attributed (segment_type text, segment text, model text, channel text,
    conversions float8, revenue float8, first_conversions float8);
"""

SAMPLES_SQL = r"""
SELECT 'kmeans_model|' || model::text FROM fuzz.models
UNION ALL SELECT 'kmeans_model|' || segment.kmeans(features, 1, '{"standardize": false}'::jsonb)::text FROM fuzz.feats
UNION ALL SELECT 'kmeans_model|' || segment.kmeans(ARRAY[x, -x], 2)::text FROM generate_series(1, 5) x
UNION ALL SELECT 'markov_model|' || segment.markov_fit(p, c)::text FROM (VALUES (ARRAY['email','search'], true),
    (ARRAY['search'], false), (ARRAY['a|b', 'c;d'], true)) AS t(p, c)
UNION ALL SELECT 'kmeans_step_state|rows=4;inertia=2;counts=4;sums=1,2;model=' || segment.kmeans(ARRAY[x, 2 * x], 1)::text
    FROM generate_series(1, 4) x;
"""

STATIC_SAMPLES = {
    "kmeans_state": ["k=2;dims=1;seed=0;n_init=4;max_iter=300;tol=0.0001;standardize=true;"
                     "allow_fewer_clusters=false;rows=3;points=1|2|5",
                     "k=1;dims=2;seed=-5;n_init=1;max_iter=1;tol=0;standardize=false;"
                     "allow_fewer_clusters=true;rows=2;points=1,2|3,4"],
    "quantile_state": ["5;4;1.5*2,3,7", "2;0;", "100;3;-1,0,1", "5;1;1e308"],
    "markov_model": ["channels=email|search;paths=2;conversions=1;counts=1,1,0,0,0,0,1,0,0,0,0,1",
                     "channels=;paths=0;conversions=0;counts=0,0",
                     "channels=a|b;paths=1;conversions=0;counts=1,0,0,0,0,1,0,0,1,0,0,0"],
    "kmeans_model": ["k=1;dims=1;points=2;inertia=2;iterations=1;converged=true;shift=0;seed=0;n_init=4;"
                     "max_iter=300;tol=0.0001;variance=1;requested_k=1;standardized=true;mean=3;scale=1;"
                     "clusters=1:2:0",
                     "k=2;dims=1;points=2;inertia=0;iterations=1;converged=true;shift=0;seed=0;n_init=4;"
                     "max_iter=300;tol=0.0001;variance=1;requested_k=2;standardized=true;mean=1e308;"
                     "scale=1e-300;clusters=1:1:1e308|2:1:-1e308"],
}

FUNCTIONS_SQL = r"""
SELECT p.oid, 'segment.' || quote_ident(p.proname), p.prokind, p.proretset,
       p.prorettype = 'record'::regtype OR t.typtype = 'c',
       coalesce((SELECT string_agg(format_type(a, NULL), ',' ORDER BY o)
                 FROM unnest(p.proargtypes) WITH ORDINALITY AS u(a, o)), ''),
       coalesce(array_to_string(p.proargnames[1:p.pronargs], ','), ''),
       p.pronargdefaults
FROM pg_proc AS p JOIN pg_type AS t ON t.oid = p.prorettype
WHERE p.pronamespace = 'segment'::regnamespace
ORDER BY p.proname, p.oid;
"""

if __name__ == "__main__":
    sys.exit(main())
