#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz targets: fuzz/corpus/<name>/seed-*.

  fuzz/make_corpus.py            # (re)writes every seed-* file; others are kept

Seeds are small inputs that show libFuzzer the shapes the parsers take, so
that it starts from real traffic instead of random bytes:
  http_request  requests as curl, wrk, browsers and load balancers send
                them, pipelined ones, bodies, and each kind of bad request
                examples/http/request.h answers (400, 413, 414, 431, 501, 505);
  resp_command  RESP arrays as redis-cli and client libraries send them,
                inline commands with quotes and escapes, the commands
                redis-benchmark runs, pipelines, blocking pops served by a
                push from the other client, a rewrite (BGREWRITEAOF) with
                commands after it, and malformed counts and lengths.
  scheduler     programs of fibers (fuzz/scheduler.cc says how the bytes
                encode them, and SCHEDULER below writes them): producers and
                consumers on unbuffered and buffered channels, plain waits
                that only the final close ends, selects, try forms, the
                Mutex with its CondVar, the RWMutex, the Semaphore, cancels,
                deadlines, scopes, task groups that fail or are not waited
                for, trees of spawned fibers, on each runtime model;
  node_timers   scripts of the Node façade's timers (fuzz/node_timers.cc
                says how the bytes encode them, NODE_TIMERS below writes
                them): timeouts with equal and unordered delays, intervals
                that clear themselves or others, ticks and microtasks that
                queue more, immediates set and cleared, callbacks that
                compute while timers come due.
The resp_command target routes commands whose name starts with a lower-case
letter to its second client (fuzz/resp_command.cc), which some seeds use.
Files that fuzzing found and fuzz/run --keep merged in (other names) and
reproducers (crash-*) are left alone. Written for this project; re-run it
after changing a seed here.
"""
import os

ROOT = os.path.dirname(os.path.abspath(__file__))


def resp(*args):
    """One command as a RESP array of bulk strings."""
    out = b"*%d\r\n" % len(args)
    for a in args:
        a = a if isinstance(a, bytes) else a.encode()
        out += b"$%d\r\n%s\r\n" % (len(a), a)
    return out


def pipeline(*commands):
    return b"".join(resp(*c) for c in commands)


CRLF = "\r\n"


def http(lines, body=b""):
    return (CRLF.join(lines) + CRLF + CRLF).encode() + body


HTTP = {
    "curl_get": http(["GET /ping HTTP/1.1", "Host: 127.0.0.1:8080", "User-Agent: curl/7.88.1", "Accept: */*"]),
    "curl_post_json": http(["POST /echo HTTP/1.1", "Host: localhost", "User-Agent: curl/7.88.1",
                            "Accept: */*", "Content-Type: application/json", "Content-Length: 13"],
                           b'{"hello": 1}\n'),
    "curl_expect_continue": http(["PUT /echo HTTP/1.1", "Host: a", "Content-Length: 5",
                                  "Expect: 100-continue"], b"abcde"),
    "wrk_get": http(["GET /ping HTTP/1.1", "Host: 127.0.0.1:8080"]),
    "wrk_pipelined": http(["GET /ping HTTP/1.1", "Host: h"]) * 3,
    "http10_no_host": http(["GET / HTTP/1.0"]),
    "http10_keep_alive": http(["GET /heavy?ms=20 HTTP/1.0", "Connection: Keep-Alive"]),
    "browser_get": http(["GET /index.html?q=weft&lang=en HTTP/1.1", "Host: example.test",
                         "User-Agent: Mozilla/5.0 (X11; Linux x86_64)",
                         "Accept: text/html,application/xhtml+xml;q=0.9,*/*;q=0.8",
                         "Accept-Encoding: gzip, deflate, br", "Accept-Language: en-GB,en;q=0.5",
                         "Connection: keep-alive", "Cookie: a=1; b=2"]),
    "connection_close": http(["GET /ping HTTP/1.1", "Host: h", "Connection: Upgrade, close"]),
    "post_then_get": http(["POST /echo HTTP/1.1", "Host: a", "Content-Length: 3"], b"abc")
                     + http(["GET /ping HTTP/1.1", "Host: a"]),
    "leading_zeros_length": http(["POST /echo HTTP/1.1", "Host: a", "Content-Length: 0003"], b"xyz"),
    "same_length_twice": http(["POST /e HTTP/1.1", "Host: a", "Content-Length: 2", "content-length: 2"], b"hi"),
    "empty_lines_first": b"\r\n\r\n" + http(["GET / HTTP/1.1", "Host: a"]),
    "obs_text_value": b"GET / HTTP/1.1\r\nHost: a\r\nX-Name: caf\xc3\xa9\tend\r\n\r\n",
    "load_balancer": http(["GET /health HTTP/1.1", "Host: svc.internal", "X-Forwarded-For: 10.0.0.1, 10.0.0.2",
                           "X-Forwarded-Proto: https", "X-Request-Id: 3f2a9c"]),
    "incomplete_head": b"GET /ping HTTP/1.1\r\nHost: a\r\nAccept",
    "incomplete_body": http(["POST /echo HTTP/1.1", "Host: a", "Content-Length: 10"], b"abc"),
    # Bad requests, one per fault examples/http/request.h lists.
    "bad_bare_lf": b"GET / HTTP/1.1\nHost: a\n\n",
    "bad_bare_cr": b"GET / HTTP/1.1\rHost: a\r\n\r\n",
    "bad_control_in_line": b"GET /a\x01b HTTP/1.1\r\n",
    "bad_nul_early": b"GE\x00",
    "bad_request_line": http(["GET /", "Host: a"]),
    "bad_method": http(["G(T / HTTP/1.1", "Host: a"]),
    "bad_version": http(["GET / HTTP/1.x", "Host: a"]),
    "http2_version": http(["GET / HTTP/2.0", "Host: a"]),
    "no_host": http(["GET / HTTP/1.1", "Accept: */*"]),
    "two_hosts": http(["GET / HTTP/1.1", "Host: a", "Host: b"]),
    "folded_header": http(["GET / HTTP/1.1", "Host: a", "X-Long: one", " two"]),
    "bad_field_name": http(["GET / HTTP/1.1", "Host: a", "Bad Name: x"]),
    "control_in_value": http(["GET / HTTP/1.1", "Host: a", "X: a\x7fb"]),
    "bad_length": http(["POST / HTTP/1.1", "Host: a", "Content-Length: 12a"]),
    "conflicting_length": http(["POST / HTTP/1.1", "Host: a", "Content-Length: 2", "Content-Length: 3"], b"abc"),
    "body_too_large": http(["POST / HTTP/1.1", "Host: a", "Content-Length: 99999999999999999999"]),
    "chunked": http(["POST / HTTP/1.1", "Host: a", "Transfer-Encoding: chunked"], b"3\r\nabc\r\n0\r\n\r\n"),
    "length_and_chunked": http(["POST / HTTP/1.1", "Host: a", "Content-Length: 3", "Transfer-Encoding: chunked"]),
    "too_many_empty_lines": b"\r\n" * 10 + http(["GET / HTTP/1.1", "Host: a"]),
    "many_fields": http(["GET / HTTP/1.1", "Host: a"] + ["X-%d: %d" % (i, i) for i in range(8)]),
    "long_target": http(["GET /" + "a" * 120 + " HTTP/1.1", "Host: a"]),
    "good_then_bad": http(["GET /ping HTTP/1.1", "Host: a"]) + b"BAD\n",
}

RESP = {
    # redis-cli and client libraries: arrays of bulk strings.
    "ping": resp("PING"),
    "set_get": pipeline(["SET", "key", "value"], ["GET", "key"]),
    "set_options": pipeline(["SET", "k", "v", "NX", "PX", "5"], ["SET", "k", "w", "XX", "GET", "KEEPTTL"],
                            ["GET", "k"], ["PTTL", "k"]),
    "set_exat": pipeline(["SET", "k", "v", "EXAT", "1700000000"], ["SET", "j", "v", "PXAT", "1700000000005"],
                         ["TTL", "j"], ["GET", "k"]),
    "counters": pipeline(["INCR", "n"], ["INCRBY", "n", "9223372036854775806"], ["INCR", "n"],
                         ["DECRBY", "n", "-5"], ["APPEND", "n", "x"], ["STRLEN", "n"]),
    "mset_mget": pipeline(["MSET", "a", "1", "b", "2", "c", "3"], ["MGET", "a", "b", "z"], ["DEL", "a", "z"],
                          ["EXISTS", "a", "b", "b"], ["GETDEL", "b"], ["DBSIZE"]),
    "expiry": pipeline(["SET", "k", "v"], ["PEXPIRE", "k", "2", "NX"], ["GET", "k"], ["GET", "k"],
                       ["GET", "k"], ["EXISTS", "k"], ["SET", "k", "v", "EX", "100"], ["PERSIST", "k"],
                       ["EXPIRE", "k", "-1"], ["TYPE", "k"]),
    "expire_options": pipeline(["SET", "k", "v"], ["EXPIRE", "k", "100", "GT"], ["EXPIRE", "k", "50", "XX"],
                               ["EXPIRE", "k", "10", "LT"], ["PEXPIREAT", "k", "1700000000009"],
                               ["EXPIREAT", "k", "9999999999999"], ["PTTL", "k"]),
    "lists": pipeline(["RPUSH", "l", "a", "b", "c"], ["LPUSH", "l", "z"], ["LRANGE", "l", "0", "-1"],
                      ["LINDEX", "l", "-1"], ["LPOP", "l", "2"], ["RPOP", "l"], ["LLEN", "l"],
                      ["LRANGE", "l", "-100", "100"]),
    "hashes": pipeline(["HSET", "h", "f", "1", "g", "2"], ["HGET", "h", "f"], ["HINCRBY", "h", "f", "41"],
                       ["HDEL", "h", "g", "x"], ["HGETALL", "h"], ["HLEN", "h"]),
    "sets": pipeline(["SADD", "s", "a", "b", "c", "d"], ["SREM", "s", "a"], ["SISMEMBER", "s", "b"],
                     ["SCARD", "s"], ["SPOP", "s", "2"], ["SMEMBERS", "s"], ["SPOP", "s"]),
    "zsets": pipeline(["ZADD", "z", "1", "a", "2.5", "b", "-inf", "c"], ["ZADD", "z", "INCR", "1.1", "a"],
                      ["ZADD", "z", "GT", "CH", "0", "b", "9", "b"], ["ZSCORE", "z", "a"],
                      ["ZRANGE", "z", "0", "-1", "WITHSCORES"], ["ZRANGE", "z", "0", "1", "REV"],
                      ["ZREM", "z", "c"], ["ZPOPMIN", "z", "1"], ["ZCARD", "z"]),
    "zset_nan": pipeline(["ZADD", "z", "inf", "m"], ["ZADD", "z", "INCR", "-inf", "m"], ["ZADD", "z", "nan", "m"]),
    "wrong_types": pipeline(["SET", "s", "x"], ["LPUSH", "s", "a"], ["HGET", "s", "f"], ["SADD", "s", "m"],
                            ["ZADD", "s", "1", "m"], ["INCR", "s"], ["GET", "nosuch"]),
    "keys_scan": pipeline(["MSET", "user:1", "a", "user:2", "b", "item:1", "c"], ["KEYS", "user:*"],
                          ["KEYS", "*[12]"], ["SCAN", "0", "MATCH", "u*", "COUNT", "1"],
                          ["SCAN", "0", "TYPE", "string"], ["KEYS", "\\*?"]),
    "server": pipeline(["SELECT", "0"], ["SELECT", "1"], ["ECHO", "hi"], ["INFO"], ["INFO", "keyspace"],
                       ["CONFIG", "GET", "save"], ["COMMAND", "COUNT"], ["COMMAND", "INFO", "get", "nosuch"],
                       ["DBSIZE"], ["FLUSHDB"], ["FLUSHALL"]),
    "arity_errors": pipeline(["GET"], ["SET", "k"], ["LRANGE", "l", "0"], ["NOSUCH", "a", "b"], ["PING", "a", "b"]),
    "pubsub_alone": pipeline(["SUBSCRIBE", "a", "b"], ["PSUBSCRIBE", "n*"], ["UNSUBSCRIBE"], ["PUBLISH", "a", "m"],
                             ["RESET"]),
    "binary_values": resp("SET", b"k\x00\r\n", b"\x00\xff\r\n\r\n") + resp("GET", b"k\x00\r\n"),
    "empty_args": pipeline(["SET", "", ""], ["GET", ""], ["APPEND", "", ""]),
    # Blocking pops: client 0 parks, client 1 (lower-case names) pushes.
    "blpop_served": pipeline(["BLPOP", "q", "0"], ["rpush", "q", "a", "b"], ["LLEN", "q"], ["lrange", "q", "0", "-1"]),
    "brpop_timeout": pipeline(["BRPOP", "q", "r", "0.003"], ["get", "x"], ["get", "x"], ["get", "x"],
                              ["get", "x"], ["LPUSH", "q", "v"]),
    "blpop_gone": pipeline(["BLPOP", "q", "0"], ["lpush", "q", "v"], ["QUIT"], ["llen", "q"]),
    "blpop_two_waiters": pipeline(["BLPOP", "a", "b", "0"], ["blpop", "b", "0"], ["RPUSH", "b", "1", "2", "3"]),
    "blpop_wrong_type": pipeline(["SET", "s", "x"], ["BLPOP", "s", "0"], ["BLPOP", "q", "-1"], ["BLPOP", "q", "x"]),
    "types": pipeline(["SET", "s", "1"], ["RPUSH", "l", "a"], ["HSET", "h", "f", "v"], ["SADD", "st", "m"],
                      ["ZADD", "z", "1", "m"], ["TYPE", "s"], ["TYPE", "l"], ["TYPE", "h"], ["TYPE", "st"],
                      ["TYPE", "z"], ["TYPE", "none"], ["SCAN", "0", "TYPE", "zset", "COUNT", "100"]),
    "command_subcommands": pipeline(["COMMAND"], ["COMMAND", "DOCS", "get"], ["COMMAND", "LIST"],
                                    ["COMMAND", "INFO", "set", "mget", "blpop"], ["COMMAND", "NOSUCH"],
                                    ["CONFIG", "SET", "x", "y"], ["CONFIG", "GET", "*"]),
    "hincrby_overflow": pipeline(["HSET", "h", "f", "9223372036854775807"], ["HINCRBY", "h", "f", "1"],
                                 ["HINCRBY", "h", "f", "-1"], ["HINCRBY", "h", "g", "x"], ["HSET", "h", "s", "a"],
                                 ["HINCRBY", "h", "s", "1"], ["INCRBY", "n", "-9223372036854775808"],
                                 ["DECR", "n"]),
    "zadd_options": pipeline(["ZADD", "z", "NX", "GT", "1", "m"], ["ZADD", "z", "XX", "1", "m"],
                             ["ZADD", "z", "1", "a", "5", "b"], ["ZADD", "z", "GT", "CH", "0", "a", "9", "b"],
                             ["ZADD", "z", "LT", "CH", "0", "a", "9", "b"], ["ZADD", "z", "NX", "7", "a", "3", "c"],
                             ["ZADD", "z", "XX", "INCR", "1", "nosuch"], ["ZADD", "z", "GT", "INCR", "-1", "a"],
                             ["ZADD", "z", "INCR", "1", "a", "2", "b"], ["ZADD", "z", "1"],
                             ["ZADD", "z", "x", "m"], ["ZRANGE", "z", "0", "-1", "WITHSCORES"]),
    "zrange_options": pipeline(["ZADD", "z", "1", "a", "2", "b", "3", "c"],
                               ["ZRANGE", "z", "0", "-1", "BYSCORE", "LIMIT", "0", "1"],
                               ["ZRANGE", "z", "(1", "5", "BYSCORE"], ["ZRANGE", "z", "[a", "(c", "BYLEX"],
                               ["ZRANGE", "z", "0", "1", "LIMIT", "0", "1"], ["ZRANGE", "z", "-2", "-1", "REV",
                                                                            "WITHSCORES"],
                               ["ZRANGE", "z", "5", "1"], ["ZPOPMIN", "z", "-1"], ["ZPOPMIN", "z", "10"]),
    "globs": pipeline(["MSET", "a1", "x", "b2", "y", "[c]", "z", "a-z", "w"], ["KEYS", "[^a]*"], ["KEYS", "[a-c]?"],
                      ["KEYS", "[z-a]*"], ["KEYS", "\\[c\\]"], ["KEYS", "[\\]]"], ["KEYS", "a[-]z"],
                      ["KEYS", "*?*?*"], ["KEYS", "["]),
    # The append-only log's rewrite of collections larger than a dump
    # command's chunk (64 elements), with changes during it.
    "rewrite_large": pipeline(*(
        [["SADD", "s"] + ["m%d" % i for i in range(j, j + 30)] for j in range(0, 90, 30)]
        + [["RPUSH", "l"] + ["e%d" % i for i in range(j, j + 30)] for j in range(0, 90, 30)]
        + [["HSET", "h"] + sum((["f%d" % i, str(i)] for i in range(j, j + 15)), []) for j in range(0, 75, 15)]
        + [["ZADD", "z"] + sum(([str(i / 4), "z%d" % i] for i in range(j, j + 15)), []) for j in range(0, 75, 15)]
        + [["PEXPIRE", "s", "100000"], ["BGREWRITEAOF"], ["SREM", "s", "m1"], ["RPOP", "l"], ["PING"],
           ["HDEL", "h", "f0"], ["PING"], ["ZREM", "z", "z0"], ["PING"], ["PING"], ["PING"], ["PING"],
           ["BGREWRITEAOF"], ["PING"], ["PING"], ["PING"], ["PING"], ["PING"], ["PING"]])),
    # The append-only log's rewrite, with changes during it.
    "rewrite": pipeline(["SET", "a", "1"], ["RPUSH", "l", "x", "y"], ["HSET", "h", "f", "v"], ["SADD", "s", "m"],
                        ["ZADD", "z", "1.5", "m"], ["PEXPIRE", "a", "50"], ["BGREWRITEAOF"], ["SET", "a", "2"],
                        ["LPOP", "l"], ["DEL", "h"], ["BGREWRITEAOF"], ["SET", "new", "v"], ["FLUSHDB"],
                        ["SET", "after", "1"], ["PING"], ["PING"]),
    "rewrite_with_blpop": pipeline(["RPUSH", "q", "a"], ["BGREWRITEAOF"], ["BLPOP", "e", "0"], ["rpush", "e", "v"],
                                   ["LPOP", "q"], ["ping"], ["ping"], ["ping"]),
    # redis-benchmark's commands (its default test set, keys as it names them).
    "benchmark_set": resp("SET", "key:__rand_int__", "xxx"),
    "benchmark_mixed": pipeline(["PING"], ["SET", "key:000000000042", "xxx"], ["GET", "key:000000000042"],
                                ["INCR", "counter:__rand_int__"], ["LPUSH", "mylist", "xxx"],
                                ["RPUSH", "mylist", "xxx"], ["LPOP", "mylist"], ["RPOP", "mylist"],
                                ["SADD", "myset", "element:__rand_int__"], ["HSET", "myhash", "element:1", "xxx"],
                                ["SPOP", "myset"], ["ZADD", "myzset", "0", "element:1"], ["ZPOPMIN", "myzset"],
                                ["LRANGE", "mylist", "0", "99"], ["MSET", "key:1", "xxx", "key:2", "xxx"]),
    "benchmark_ping_inline": b"PING\r\n" * 4,
    "benchmark_config": resp("CONFIG", "GET", "save") + resp("CONFIG", "GET", "appendonly"),
    # Inline commands (telnet, redis-benchmark's inline PING).
    "inline_set": b"SET k v\r\nGET k\r\n",
    "inline_quotes": b'SET "a key" "line\\nnext\\x41\\"q\\""\r\nGET \'a key\'\r\n',
    "inline_single_quote": b"ECHO 'it\\'s'\n",
    "inline_spaces": b"  SET   k\t v  \r\n\r\n\n",
    "inline_nul": b"ECHO a\x00b c\r\n",
    "inline_unbalanced": b'SET "k v\r\n',
    "inline_quote_then_text": b'SET "k"v x\r\n',
    "inline_lf_only": b"PING\nPING\n",
    # Malformed arrays and lengths.
    "empty_array": b"*0\r\n*-1\r\nPING\r\n",
    "bad_count": b"*x\r\n",
    "huge_count": b"*9999999999\r\n",
    "negative_length": b"*1\r\n$-1\r\n",
    "bad_length": b"*1\r\n$1x\r\na\r\n",
    "not_bulk": b"*2\r\n$4\r\nECHO\r\n:1\r\n",
    "huge_bulk": b"*1\r\n$600000000\r\n",
    "empty_length": b"*1\r\n$\r\n",
    "cr_for_dollar": b"*1\r\n\r\n",
    "incomplete_bulk": b"*2\r\n$3\r\nGET\r\n$10\r\nabc",
    "wrong_terminator": b"*2\r\n$4\r\nECHOxx$1\r\na\r\n",
    "count_plus": b"*+1\r\n$4\r\nPING\r\n",
    "count_leading_zero": b"*01\r\n$4\r\nPING\r\n",
}


# ---- scheduler programs (the encoding is fuzz/scheduler.cc's) ----------------

OPS = {"end": 0, "spawn": 1, "join": 2, "yield": 3, "sleep": 4, "send": 5, "recv": 6, "close": 7,
       "select": 8, "lock": 9, "cancel": 10, "event": 11, "group": 12, "scope": 13}
DEADLINES = {None: 0, "past": 1, "now": 2, "50us": 3, "200us": 4, "1ms": 5, "2ms": 6, "try": 7}
TOKENS = {None: 0, 0: 1, 1: 2, "scope": 3}


def op(kind, arg=0, x=0, y=0):
    return bytes([OPS[kind] | (arg << 4), x, y])


def wait(deadline=None, token=None, scoped=True):
    """The y byte of an op that waits: wait(y) in fuzz/scheduler.cc."""
    return DEADLINES[deadline] | TOKENS[token] << 3 | (0 if scoped else 0x20)


def spawn(script, detach=False):
    return op("spawn", 1 if detach else 0, script)


def join(newest=False):
    return op("join", 0, 1 if newest else 0)


def yield_():
    return op("yield")


def sleep(length=0, **w):
    """length 0-3: 0, 50 us, 200 us, 1 ms; with wait options if any are given."""
    return op("sleep", 1 if w else 0, length, wait(**w))


def send(ch, **w):
    return op("send", 0, ch, wait(**w))


def recv(ch, **w):
    return op("recv", 0, ch, wait(**w))


def close(ch):
    return op("close", 0, ch)


def select(cases, **w):
    """cases: (channel, "send" or "recv"), two or three of them."""
    arg = 8 if len(cases) == 3 else 0
    x = 0
    for i, (ch, how) in enumerate(cases):
        x |= ch << (2 * i)
        arg |= (1 << i) if how == "send" else 0
    return op("select", arg, x, wait(**w))


def lock(which="mutex", how="lock", inside="none", **w):
    """inside, for the condvar: notify, notify_all, wait_ticket or wait."""
    arg = {"mutex": 0, "condvar": 1, "rw": 2, "shared": 3}[which]
    inner = {"none": 0, "yield": 1, "sleep": 2, "yield2": 3,
             "notify": 0, "notify_all": 1, "wait_ticket": 2, "wait": 3}[inside]
    x = {"lock": 0, "try": 1, "timed": 2}[how] | inner << 2
    return op("lock", arg, x, wait(**w))


def cancel(target):
    return op("cancel", 0, {0: 0, 1: 1, "scope": 2, "group": 3}[target])


def event_set():
    return op("event", 0, 0)


def event_wait(**w):
    return op("event", 0, 1, wait(**w))


def permit(how="lock", inside="none", **w):
    """A permit of the Semaphore, taken as lock() takes the Mutex."""
    x = {"lock": 0, "try": 1, "timed": 2}[how] | {"none": 0, "yield": 1, "sleep": 2, "yield2": 3}[inside] << 2
    return op("event", 1, x, wait(**w))


def group_spawn(script, fail=None, **w):
    return op("group", {None: 0, "error": 1, "throw": 2}[fail] << 1, script, wait(**w))


def group_wait():
    return op("group", 1)


def scope(length, **w):
    """The next `length` ops (1 to 8) run in a CancelScope."""
    return op("scope", 0, length - 1, wait(**w))


def program(*scripts, workers=1, single=False, epoll=False, shuffle=False, no_spin=False,
            permits=1, cap1=1, cap2=0, roots=1):
    """Script k (a list of ops) is root k's while k < roots; the rest are spawned."""
    config = (workers == 2) | single << 1 | epoll << 2 | shuffle << 3 | no_spin << 4 | (permits - 1) << 5
    shape = (cap1 - 1) | cap2 << 2 | (roots - 1) << 5
    return bytes([config, shape]) + op("end").join(b"".join(s) for s in scripts)


def producers_consumers(**runtime):
    return program([send(1), send(1), send(1), close(1)], [send(1, deadline="1ms"), send(1)],
                   [recv(1), recv(1, deadline="2ms"), recv(1), recv(1), recv(1), recv(1)],
                   roots=3, cap1=2, **runtime)


SCHEDULER = {
    "ping_pong": program([send(0), recv(0), send(0), recv(0)], [recv(0), send(0), recv(0), send(0)], roots=2),
    "ping_pong_two_workers": program([send(0)] * 6, [recv(0)] * 6, roots=2, workers=2),
    "ping_pong_single_epoll": program([send(0)] * 6, [recv(0)] * 6, roots=2, single=True, epoll=True),
    "producers_consumers": producers_consumers(),
    "producers_consumers_two_workers": producers_consumers(workers=2, no_spin=True),
    "producers_consumers_shuffled": producers_consumers(workers=2, shuffle=True, epoll=True),
    # Waits no counterpart ends: the main fiber's close does (fuzz/scheduler.cc).
    "plain_recv_forever": program([recv(0), recv(1), recv(2)]),
    "plain_send_forever": program([send(0), send(1), send(1), send(1)], cap1=2),
    "plain_select_forever": program([select([(0, "recv"), (1, "recv")]), select([(0, "send"), (2, "send")])]),
    "event_wait_forever": program([event_wait()], [event_wait(token=0)], roots=2, workers=2),
    "join_a_stuck_child": program([spawn(1), join()], [recv(2)]),
    "left_in_the_buffer": program([send(1), send(1), send(1), send(1), send(1, deadline="50us")], cap1=4),
    "close_wakes_everyone": program([recv(0), recv(0, deadline="2ms")], [send(0, token=1), send(2)],
                                    [sleep(2), close(0), close(2), send(0), recv(2)], roots=3, workers=2),
    "send_on_closed": program([close(1), send(1), send(1, deadline="try"), select([(1, "send"), (0, "recv")]),
                               recv(1), recv(1, deadline="try")], cap1=2),
    "deadlines": program([recv(0, deadline="50us"), send(0, deadline="200us"), recv(1, deadline="past"),
                          send(0, deadline="now"), event_wait(deadline="50us"),
                          select([(0, "recv"), (1, "recv")], deadline="200us"),
                          lock(how="timed", deadline="50us")]),
    "try_forms": program([send(1, deadline="try"), send(1, deadline="try"), recv(1, deadline="try"),
                          recv(0, deadline="try"), select([(1, "send"), (1, "recv")], deadline="try"),
                          lock(how="try"), event_wait(deadline="try")], [recv(1, deadline="try")] * 4,
                         roots=2, cap1=1, workers=2),
    "selects": program([select([(0, "send"), (1, "recv"), (2, "send")]), select([(0, "recv"), (2, "recv")]),
                        select([(1, "send"), (2, "send")], deadline="1ms")],
                       [select([(0, "recv"), (1, "send")]), select([(2, "recv"), (0, "send")], token=0),
                        recv(2, deadline="1ms"), cancel(0)],
                       [send(1), recv(0, deadline="2ms"), select([(0, "recv"), (1, "recv"), (2, "recv")])],
                       roots=3, cap2=1, workers=2),
    "select_sends_and_receives_one_channel": program([select([(1, "send"), (1, "recv")])] * 4,
                                                     [select([(0, "send"), (0, "recv")], deadline="200us")] * 2,
                                                     roots=2, cap1=1, workers=2),
    "mutex": program(*[[lock(inside="yield"), lock(how="timed", inside="sleep", deadline="1ms"),
                        lock(how="try", inside="yield2"), lock(inside="sleep")]] * 4, roots=4, workers=2),
    "mutex_single": program(*[[lock(inside="yield"), lock(how="timed", inside="yield", deadline="50us"),
                               lock(inside="yield2")]] * 3, roots=3, single=True),
    "condvar": program([lock("condvar", inside="wait_ticket"), lock("condvar", inside="wait_ticket", deadline="1ms")],
                       [lock("condvar", inside="wait", token=0), lock("condvar", inside="wait_ticket")],
                       [sleep(1), lock("condvar", inside="notify"), lock("condvar", how="timed", inside="notify_all",
                                                                          deadline="2ms"),
                        lock(inside="yield"), cancel(0)],
                       roots=3, workers=2),
    "condvar_never_notified": program([lock("condvar", inside="wait_ticket")], [lock("condvar", inside="wait")],
                                      roots=2),
    "semaphore": program(*[[permit(inside="yield"), permit(how="timed", inside="sleep", deadline="1ms"),
                            permit(how="try", inside="yield2"), scope(1, deadline="200us"), permit(inside="sleep")]] * 4,
                         roots=4, permits=2, workers=2),
    "rw_mutex": program([lock("rw", inside="yield"), lock("shared", inside="sleep")],
                        [lock("shared", inside="yield2"), lock("shared", how="timed", inside="yield", deadline="1ms")],
                        [lock("rw", how="timed", inside="sleep", token=1), lock("rw", how="try")],
                        [lock("shared", inside="yield"), lock("rw", inside="yield2"), cancel(1)],
                        roots=4, workers=2),
    "cancel_waiters": program([recv(0, token=0), event_wait(token=0), sleep(3, token=0)],
                              [send(1, token=0), send(1, token=0), send(1, token=0, deadline="2ms")],
                              [lock(how="timed", inside="sleep", token=0), sleep(1), cancel(0)],
                              [select([(0, "recv"), (2, "recv")], token=0), recv(2, token=0)],
                              roots=4, workers=2, cap1=1),
    "cancel_unscoped_waits_too": program([scope(2, token=1), recv(0, scoped=False), recv(0, deadline="1ms")],
                                         [sleep(1), cancel(1), send(0)], roots=2),
    "scope_deadline": program([scope(4, deadline="200us"), recv(0), event_wait(), sleep(3, token=1),
                               lock(how="timed", inside="sleep")], [lock(inside="sleep"), lock(inside="sleep")],
                              roots=2, workers=2),
    "scope_cancel": program([scope(5), spawn(1), cancel("scope"), recv(0), recv(0, token="scope"),
                             send(0, scoped=False), join()], [recv(0)]),
    "nested_scopes": program([scope(6, deadline="2ms", token=0), scope(3, deadline="50us", token="scope"),
                              recv(0), select([(0, "recv"), (1, "send")]), sleep(2, deadline="1ms"),
                              recv(0, token="scope"), send(2)],
                             [sleep(2), cancel(0), recv(2)], roots=2, workers=2, cap1=1),
    "group_waits": program([group_spawn(1), group_spawn(1), group_spawn(2), group_wait(), group_spawn(2),
                            group_wait()],
                           [send(0), recv(1, deadline="1ms")], [recv(0), send(1)]),
    "group_child_fails": program([group_spawn(1), group_spawn(1, fail="error"), group_spawn(2),
                                  group_wait()],
                                 [recv(0), sleep(3, token=1)], [sleep(1), event_wait()], workers=2),
    "group_child_throws": program([group_spawn(1, fail="throw"), group_spawn(1), group_spawn(2, fail="error"),
                                   group_wait()], [sleep(2)], [recv(2), sleep(1)], workers=2),
    "group_deadline": program([group_spawn(1, deadline="200us"), group_spawn(1), group_spawn(2), group_wait()],
                              [recv(0), event_wait()], [send(0), lock(how="timed", inside="sleep")]),
    "group_not_waited": program([group_spawn(1), group_spawn(1, token=0), group_spawn(2), scope(2),
                                 group_spawn(1), cancel("group")],
                                [recv(0), select([(1, "recv"), (2, "recv")])], [sleep(1), send(0), send(0)],
                                workers=2),
    "group_in_group": program([group_spawn(1), group_spawn(1, fail="error"), group_wait()],
                              [group_spawn(2), group_spawn(2, fail="throw"), group_wait(), recv(0)],
                              [sleep(1), recv(1, deadline="50us")], workers=2),
    "spawn_tree": program([spawn(0), spawn(0, detach=True), send(1), join(), recv(1, deadline="200us")], cap1=4,
                          workers=2),
    "spawn_join_order": program([spawn(1), spawn(2), spawn(1, detach=True), join(newest=True), join(), yield_()],
                                [send(0), yield_(), recv(0)], [recv(0), yield_(), send(0)]),
    "yields_two_workers": program(*[[spawn(1), yield_(), yield_(), spawn(1), yield_(), join(), yield_()],
                                    [yield_(), yield_(), yield_(), yield_()]], workers=2, shuffle=True),
    "sleeps": program([sleep(0), sleep(1), sleep(2), sleep(3), sleep(1, deadline="50us")],
                      [sleep(3, deadline="200us", token=1), sleep(2, scoped=False), cancel(1)], roots=2,
                      workers=2, no_spin=True),
    "event_broadcast": program(*[[event_wait(), recv(1, deadline="try")]] * 5 + [[sleep(1), event_set(), send(1)]],
                               roots=6, workers=2),
    "everything": program([spawn(1), group_spawn(2, fail="error"), scope(3, deadline="1ms"), recv(0),
                           select([(1, "recv"), (2, "send")]), lock(inside="yield"), send(1), cancel(0),
                           event_set(), join(), group_wait()],
                          [send(0), lock("shared", inside="sleep"), recv(1, token=0), event_wait()],
                          [recv(2, deadline="2ms"), lock("rw", how="timed", deadline="1ms"), close(1)],
                          roots=1, workers=2, cap1=2, cap2=2),
}


# The Node façade's timers: each callback's actions, in the order the
# callbacks run (fuzz/node_timers.cc).
def cb(*actions):
    return bytes([len(actions)]) + b"".join(actions)


def timeout(ms):
    return bytes([0, ms + 2])


def interval(ms, runs):
    return bytes([1, ms + 20 * (runs - 1)])


def clear_timer(i):
    return bytes([2, i])


def immediate():
    return bytes([3, 0])


def clear_immediate(i):
    return bytes([4, i])


def tick():
    return bytes([5, 0])


def microtask():
    return bytes([6, 0])


def compute(ms):
    return bytes([7, ms])


NODE_TIMERS = {
    "timeouts_equal_and_unordered": cb(timeout(5), timeout(1), timeout(5), timeout(0), timeout(-1), timeout(5))
    + cb() * 6,
    "interval_clears_a_timeout": cb(interval(3, 3), timeout(7), timeout(12)) + cb(clear_timer(2)) + cb() * 4,
    "interval_clears_itself_early": cb(interval(2, 4), timeout(9)) + cb() + cb(clear_timer(0)) + cb(),
    "ticks_and_microtasks_queue_more": cb(tick(), microtask(), tick(), immediate(), timeout(1))
    + cb(microtask()) + cb(tick()) + cb(microtask()) + cb(tick()) + cb() * 4,
    "immediates_set_and_cleared": cb(immediate(), immediate(), immediate(), clear_immediate(1))
    + cb(immediate()) + cb(clear_immediate(3)) + cb(immediate()) + cb() * 3,
    "compute_while_timers_come_due": cb(timeout(2), timeout(2), timeout(3), interval(1, 3))
    + cb(compute(5), timeout(1)) + cb(compute(3)) + cb() + cb(timeout(0)) + cb() * 4,
    "everything": cb(timeout(4), interval(2, 2), immediate(), tick(), microtask(), compute(1), timeout(4),
                     clear_timer(0), immediate(), clear_immediate(0))
    + cb(timeout(3), tick()) + cb(microtask(), interval(0, 2)) + cb(clear_timer(2), compute(7))
    + cb(immediate(), timeout(-2)) + cb() * 8,
}


def write(name, seeds):
    d = os.path.join(ROOT, "corpus", name)
    os.makedirs(d, exist_ok=True)
    for old in os.listdir(d):
        if old.startswith("seed-"):
            os.remove(os.path.join(d, old))
    for key, data in seeds.items():
        with open(os.path.join(d, "seed-" + key), "wb") as f:
            f.write(data)
    print(f"{d}: {len(seeds)} seeds")


if __name__ == "__main__":
    write("http_request", HTTP)
    write("resp_command", RESP)
    write("scheduler", SCHEDULER)
    write("node_timers", NODE_TIMERS)
