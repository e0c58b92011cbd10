#!/usr/bin/env python3
"""Docs that cannot drift: checks that what the docs and the design comments
name still exists.

  tools/check_docs.py [source-root]

Checks, and prints one line per failure (exit 1 if any):
  1. Every repository path named in README.md, docs/*.md and the comments of
     the sources (alloc/fibers/sync/io/uring/epoll/runtime/node/..., with
     {a,b} alternatives expanded) exists.
  2. Every bare source file name a comment cites (`scheduler.cc`, `ring.h`)
     is a file of the repository (or a system header).
  3. Every symbol the docs place in a file is declared there: the rows of
     ARCHITECTURE's vocabulary table (| Word | ... | `path` |), and every
     "`Symbol` (`path`)" or "`Symbol` in `path`" in the docs.
  4. The installed headers (install(FILES ...) under include/weft) are
     exactly those weft.h reaches through its includes, and exactly those
     ARCHITECTURE's "Public headers" section lists.
  5. Every code block the docs mark as quoted — a line
     `<!-- quoted from <path> [<region>] -->` just before the fence — is
     the same text as that region of the file (the lines between
     `// [<region>]` and `// [/<region>]`, less their common indent) or,
     without a region, as the whole file after its opening comment. The
     quoted files are built (and run) by CTest, so the docs' code compiles.
Run by CTest (docs_drift).
"""
import os
import re
import sys

ROOT = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), ".."))
TOP = ("faults", "alloc", "fibers", "sync", "io", "uring", "epoll", "runtime", "node", "examples", "perf",
       "tests", "tools", "scripts", "docs", "cmake", ".ci")
SOURCE_EXT = (".h", ".cc", ".S", ".py", ".sh", ".go", ".js", ".cmake")
SKIP_DIRS = {"build", ".git", "results", "images", "node_modules"}
failures = []


def fail(where, what):
    failures.append(f"{where}: {what}")


def repo_files():
    for dirpath, dirnames, filenames in os.walk(ROOT):
        # A build directory of any name (CMake leaves its cache there).
        dirnames[:] = [d for d in dirnames if d not in SKIP_DIRS and not d.startswith("build")
                       and not os.path.exists(os.path.join(dirpath, d, "CMakeCache.txt"))]
        for f in filenames:
            yield os.path.relpath(os.path.join(dirpath, f), ROOT)


FILES = sorted(repo_files())
BASENAMES = {os.path.basename(f) for f in FILES}


def system_header(name):
    for d in ("/usr/include", "/usr/include/x86_64-linux-gnu", "/usr/include/linux"):
        if os.path.exists(os.path.join(d, name)):
            return True
    return False


def expand(token):
    m = re.search(r"\{([^{}]*)\}", token)
    if not m:
        return [token]
    out = []
    for alt in m.group(1).split(","):
        out += expand(token[: m.start()] + alt + token[m.end():])
    return out


PATH = re.compile(r"(?<![\w./-])(?:weft/)?((?:" + "|".join(re.escape(t) for t in TOP) +
                  r")/[\w{},./-]*[\w}/])")
BARE = re.compile(r"(?<![\w./<-])([A-Za-z_][\w-]*\.(?:h|cc|S))\b(?![\w/-])")


def check_path(where, token):
    for p in expand(token):
        p = p.rstrip(".")
        if p.endswith("/"):
            ok = os.path.isdir(os.path.join(ROOT, p))
        elif "." not in os.path.basename(p):
            # a folder named without its slash (`uring/epoll` as a ratio is
            # not a path); only check it when such a folder could be meant
            ok = os.path.isdir(os.path.join(ROOT, p)) or not os.path.isdir(os.path.join(ROOT, os.path.dirname(p)))
            ok = ok or os.path.exists(os.path.join(ROOT, p))
        else:
            ok = os.path.exists(os.path.join(ROOT, p))
        if not ok:
            fail(where, f"names {p}, which does not exist")


def comment_text(path, text):
    """The comment lines of a source file, with their line numbers."""
    if path.endswith((".py", ".sh", ".cmake")) or os.path.basename(path) == "CMakeLists.txt":
        marker = "#"
    else:
        marker = "//"
    for n, line in enumerate(text.splitlines(), 1):
        i = line.find(marker)
        if i < 0 or line.lstrip().startswith("#include"):
            continue
        yield n, line[i + len(marker):]


def check_text(path, lines):
    for n, line in lines:
        where = f"{path}:{n}"
        for m in PATH.finditer(line):
            if "://" in line[max(0, m.start() - 8): m.start()]:
                continue
            check_path(where, m.group(1))
        for m in BARE.finditer(line):
            name = m.group(1)
            if system_header(name) or name.startswith(("my_", "your")):
                continue
            # A comment cites a file of its own folder by name, any other
            # with its folder; a document names every file with its folder
            # (its own folder: docs/).
            here = os.path.dirname(path)
            if os.path.exists(os.path.join(ROOT, here, name)):
                continue
            if path.endswith(".md") and name in BASENAMES:
                continue  # a document's sections say the folder
            if name in BASENAMES:
                fail(where, f"cites {name}, which is not in {here or 'the top folder'}/ (name its folder)")
            else:
                fail(where, f"cites {name}, which no file of the repository is")


def declares_type(name, path):
    full = os.path.join(ROOT, path)
    if not os.path.isfile(full):
        return False
    text = open(full, encoding="utf-8", errors="replace").read()
    n = re.escape(name)
    # a definition, not a forward declaration
    return re.search(r"\b(?:class|struct|union)\s+" + n + r"\b(?:\s+final)?\s*(?::[^;{]*)?\{"
                     r"|\benum(?:\s+class)?\s+" + n + r"\b|\busing\s+" + n + r"\s*=", text) is not None


def declared_in(symbol, path):
    full = os.path.join(ROOT, path)
    if not os.path.isfile(full):
        return False
    text = open(full, encoding="utf-8", errors="replace").read()
    name = symbol.split("::")[-1].rstrip("()")
    if name[:1].isupper() and "::" not in symbol and not declares_type(name, path):
        return False
    scope = symbol.split("::")[-2] if "::" in symbol else None
    if not re.search(r"\b" + re.escape(name) + r"\b", text):
        return False
    if scope and not re.search(r"\b" + re.escape(scope) + r"\b", text):
        return False
    return True


def check_symbols(path, text):
    rel = path
    for n, line in enumerate(text.splitlines(), 1):
        where = f"{rel}:{n}"
        row = re.match(r"\|\s*([A-Z][A-Za-z]+)\s*\|.*\|\s*`([^`]+\.h)`\s*\|\s*$", line)
        if row:
            for p in expand(row.group(2)):
                if not declares_type(row.group(1), p):
                    fail(where, f"places {row.group(1)} in {p}, which does not declare it")
        for m in re.finditer(r"`((?:[A-Za-z_]\w*::)*[A-Za-z_]\w*)(?:\(\))?`\s*(?:\(|in\s+)`?((?:"
                             + "|".join(TOP) + r")/[\w./]+\.(?:h|cc))`?", line):
            sym, p = m.group(1), m.group(2)
            if sym.startswith("WEFT_") or sym.islower() and "_" not in sym and "::" not in sym and len(sym) < 3:
                continue
            if not declared_in(sym, p):
                fail(where, f"places {sym} in {p}, which does not declare it")


def installed_headers():
    out = set()
    for f in FILES:
        if os.path.basename(f) != "CMakeLists.txt":
            continue
        text = open(os.path.join(ROOT, f)).read()
        folder = os.path.dirname(f)
        for m in re.finditer(r"install\(FILES([^)]*?)DESTINATION\s+\$\{CMAKE_INSTALL_INCLUDEDIR\}/weft(/[\w/]+)?\s*\)", text):
            for h in m.group(1).split():
                if h.endswith(".h"):
                    out.add("weft/" + (os.path.join(folder, h) if folder else h))
    return out


def reachable_from(top):
    seen, todo = set(), [top]
    while todo:
        h = todo.pop()
        if h in seen:
            continue
        seen.add(h)
        full = os.path.join(ROOT, h[len("weft/"):])
        if not os.path.exists(full):
            fail(h, "is included but does not exist")
            continue
        todo += ["weft/" + i for i in re.findall(r"#include <weft/([^>]+)>", open(full).read())]
    return seen


def documented_headers():
    text = open(os.path.join(ROOT, "docs/ARCHITECTURE.md")).read()
    m = re.search(r"^## Public headers\n(.*?)^## ", text, re.S | re.M)
    if not m:
        fail("docs/ARCHITECTURE.md", "has no '## Public headers' section")
        return set()
    return set(re.findall(r"`(weft/[\w/]+\.h)`", m.group(1)))


QUOTE = re.compile(r"^<!-- quoted from (\S+)(?: \[([\w-]+)\])? -->$")


def quoted_text(path, region):
    lines = open(os.path.join(ROOT, path), encoding="utf-8").read().splitlines()
    if region is None:
        start = 0
        while start < len(lines) and lines[start].startswith("//"):
            start += 1
        return lines[start:]
    try:
        begin = next(i for i, l in enumerate(lines) if l.strip() == f"// [{region}]")
        end = next(i for i, l in enumerate(lines) if l.strip() == f"// [/{region}]")
    except StopIteration:
        return None
    body = lines[begin + 1:end]
    indent = min((len(l) - len(l.lstrip()) for l in body if l.strip()), default=0)
    return [l[indent:] for l in body]


def check_quotes(path, text):
    lines = text.splitlines()
    for i, line in enumerate(lines):
        m = QUOTE.match(line.strip())
        if not m:
            continue
        source, region = m.group(1), m.group(2)
        where = f"{path}:{i + 1}"
        if not os.path.exists(os.path.join(ROOT, source)):
            fail(where, f"quotes {source}, which does not exist")
            continue
        if i + 1 >= len(lines) or not lines[i + 1].startswith("```"):
            fail(where, "a quote marker must stand just before a code fence")
            continue
        end = next((j for j in range(i + 2, len(lines)) if lines[j].startswith("```")), None)
        if end is None:
            fail(where, "the quoted code block is not closed")
            continue
        want = quoted_text(source, region)
        if want is None:
            fail(where, f"{source} has no region [{region}]")
        elif lines[i + 2:end] != want:
            fail(where, f"the block differs from {source}" + (f" [{region}]" if region else ""))


def main():
    for f in FILES:
        full = os.path.join(ROOT, f)
        if f.endswith(".md"):
            if not (f == "README.md" or f.startswith("docs/")):
                continue
            text = open(full, encoding="utf-8").read()
            check_text(f, enumerate(text.splitlines(), 1))
            check_symbols(f, text)
            check_quotes(f, text)
        elif f.endswith(SOURCE_EXT) or os.path.basename(f) == "CMakeLists.txt":
            if f.startswith(("tools/check_docs.py",)):
                continue
            text = open(full, encoding="utf-8", errors="replace").read()
            check_text(f, list(comment_text(f, text)))
    installed = installed_headers()
    reached = reachable_from("weft/weft.h")
    documented = documented_headers()
    for h in sorted(reached - installed):
        fail("install rules", f"do not install {h}, which weft.h includes")
    for h in sorted(installed - reached):
        fail("install rules", f"install {h}, which weft.h does not reach (internal?)")
    for h in sorted(installed - documented):
        fail("docs/ARCHITECTURE.md", f"'Public headers' does not list the installed {h}")
    for h in sorted(documented - installed):
        fail("docs/ARCHITECTURE.md", f"'Public headers' lists {h}, which is not installed")
    for line in failures:
        print(line)
    print(f"check_docs: {len(FILES)} files read, {len(failures)} problem(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
