"""What the hostile checks say and hear on the wire: HTTP/1.1 responses and
RESP2 replies parsed from the bytes a socket gave, and the requests and
commands they send.

Both parsers take every byte received so far and return what is complete
and what is left over, so that a caller reading in pieces can call them
again; neither raises on a cut-short input (that is left over), only on
bytes that cannot be the start of a response or a reply (ValueError).
"""


def http_request(method, target, body=None, close=False, host=b"hostile"):
    """One HTTP/1.1 request, as bytes."""
    head = b"%s %s HTTP/1.1\r\nHost: %s\r\n" % (method, target, host)
    if close:
        head += b"Connection: close\r\n"
    if body is not None:
        head += b"Content-Length: %d\r\n" % len(body)
    return head + b"\r\n" + (body or b"")


PING_REQUEST = http_request(b"GET", b"/ping")
PING_REQUEST_CLOSE = http_request(b"GET", b"/ping", close=True)


class HttpResponse:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers  # lower-case names
        self.body = body

    @property
    def closes(self):
        return self.headers.get("connection", "").lower() == "close"

    def __repr__(self):
        return "%d %r%s" % (self.status, self.body[:60], " (Connection: close)" if self.closes else "")


def http_responses(data):
    """The whole responses at the start of `data`, and the bytes after them."""
    out = []
    while True:
        end = data.find(b"\r\n\r\n")
        if end < 0:
            return out, data
        lines = data[:end].decode("latin-1").split("\r\n")
        parts = lines[0].split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit():
            raise ValueError("not an HTTP response: %r" % data[:80])
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        length = int(headers.get("content-length", "0"))
        if len(data) < end + 4 + length:
            return out, data
        out.append(HttpResponse(int(parts[1]), headers, data[end + 4:end + 4 + length]))
        data = data[end + 4 + length:]


def resp_command(*args):
    """One command as a RESP2 array of bulk strings."""
    out = b"*%d\r\n" % len(args)
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        out += b"$%d\r\n%s\r\n" % (len(a), a)
    return out


def _reply(data, pos):
    """One reply at data[pos:]: (value, position after it), or None if it is
    not all there. Simple strings, errors and integers come back as their
    whole line (b"+OK", b"-ERR ...", b":1"); bulk strings as bytes; arrays as
    lists; the null bulk string and the null array as None."""
    eol = data.find(b"\r\n", pos)
    if eol < 0:
        return None
    line = data[pos:eol]
    kind = line[:1]
    if kind in (b"+", b"-", b":"):
        return line, eol + 2
    if kind == b"$":
        n = int(line[1:])
        if n < 0:
            return None, eol + 2
        if len(data) < eol + 2 + n + 2:
            return None
        return data[eol + 2:eol + 2 + n], eol + 2 + n + 2
    if kind == b"*":
        n = int(line[1:])
        if n < 0:
            return None, eol + 2
        items, at = [], eol + 2
        for _ in range(n):
            r = _reply(data, at)
            if r is None:
                return None
            items.append(r[0])
            at = r[1]
        return items, at
    raise ValueError("not a RESP2 reply: %r" % data[pos:pos + 80])


def resp_replies(data, most=None):
    """The whole replies at the start of `data` (at most `most`), and the
    bytes after them."""
    out, pos = [], 0
    while most is None or len(out) < most:
        r = _reply(data, pos)
        if r is None:
            break
        out.append(r[0])
        pos = r[1]
    return out, data[pos:]
