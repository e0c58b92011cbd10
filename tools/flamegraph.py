#!/usr/bin/env python3
"""Draws a flame graph (SVG) from `perf script` output, with nothing but Python.

    perf script -i perf.data | tools/flamegraph.py --title "weft-http" > flame.svg
    tools/flamegraph.py --folded < perf.script > stacks.folded   # one line per stack

Each sample's callchain becomes a stack from its root (bottom) to the
sampled function (top); widths are sample counts. In a weft program a fiber's
stacks are rooted at weft_fiber_start, so every fiber's work stands on one
base and the worker's own loop (Worker::run) on another. Frames are coloured
by where they come from: weft's runtime (blue), the kernel (orange, names
ending in _[k]), the rest (warm). Hover a frame for its full name and share; the SVG needs no
script.

Options:
    --title TEXT   the heading
    --width PX     image width (default 1200)
    --min PCT      drop frames narrower than this share of all samples (default 0.1)
    --folded       print the folded stacks ("a;b;c count") instead of SVG
    --comm NAME    only samples of this command name (thread names count too)
"""
import argparse
import collections
import html
import re
import sys
import zlib

HEADER = re.compile(r"^(\S.*?)\s+(\d+)(?:/\d+)?\s")  # comm, pid at the start of a sample


def parse(lines):
    """Yields (comm, [frames root-first]) for each sample with a callchain."""
    comm, frames = None, []
    for raw in lines:
        line = raw.rstrip("\n")
        if not line.strip():
            if comm is not None and frames:
                yield comm, list(reversed(frames))
            comm, frames = None, []
            continue
        if not line[0].isspace():
            m = HEADER.match(line)
            comm = m.group(1) if m else line.split()[0]
            frames = []
            continue
        text = line.strip()
        parts = text.split(None, 1)
        if len(parts) < 2:
            continue
        rest = parts[1]
        cut = rest.rfind(" (")
        symbol = rest[:cut] if cut > 0 and rest.endswith(")") else rest
        dso = rest[cut + 2:-1] if cut > 0 and rest.endswith(")") else ""
        symbol = re.sub(r"\+0x[0-9a-f]+$", "", symbol)
        if dso == "[kernel.kallsyms]":
            symbol += "_[k]"
        if symbol == "[unknown]" and dso:
            symbol = "[" + dso.rsplit("/", 1)[-1] + "]"
        frames.append(symbol)
    if comm is not None and frames:
        yield comm, list(reversed(frames))


def fold(samples, comm_filter=None):
    counts = collections.Counter()
    for comm, frames in samples:
        if comm_filter and comm != comm_filter:
            continue
        counts[";".join(frames)] += 1
    return counts


class Node:
    __slots__ = ("name", "count", "children")

    def __init__(self, name):
        self.name, self.count, self.children = name, 0, {}


def build(counts):
    root = Node("all")
    for stack, n in counts.items():
        root.count += n
        node = root
        for name in stack.split(";"):
            node = node.children.setdefault(name, Node(name))
            node.count += n
    return root


def colour(name):
    h = zlib.crc32(name.encode()) & 0xFFFF
    if "weft" in name or name.startswith("Worker::"):
        return f"rgb({70 + h % 40},{130 + h % 50},{200 + h % 40})"
    if name.endswith("_[k]"):
        return f"rgb({230},{140 + h % 50},{40 + h % 30})"
    return f"rgb({220 + h % 30},{90 + h % 90},{50 + h % 40})"


def svg(root, title, width, min_share):
    frame_h, top_pad, font = 16, 36, 11
    total = max(root.count, 1)
    rects = []

    def walk(node, depth, x):
        for child in sorted(node.children.values(), key=lambda c: c.name):
            if child.count / total * 100 >= min_share:
                rects.append((depth, x, child))
                walk(child, depth + 1, x)
            x += child.count

    rects.append((0, 0, root))
    walk(root, 1, 0)
    depth_max = max(d for d, _, _ in rects) + 1
    height = top_pad + depth_max * frame_h + 10
    scale = (width - 20) / total
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'font-family="monospace" font-size="{font}">',
        f'<rect width="100%" height="100%" fill="#f8f8f2"/>',
        f'<text x="{width / 2}" y="20" text-anchor="middle" font-size="15">{html.escape(title)}</text>',
    ]
    for depth, x, node in rects:
        px = 10 + x * scale
        w = node.count * scale
        y = height - 10 - (depth + 1) * frame_h
        share = node.count / total * 100
        label = f"{node.name} ({node.count} samples, {share:.1f}%)"
        fill = "#c0c0c0" if node is root else colour(node.name)
        out.append(f'<g><title>{html.escape(label)}</title>'
                   f'<rect x="{px:.1f}" y="{y}" width="{max(w - 0.5, 0.5):.1f}" height="{frame_h - 1}" '
                   f'fill="{fill}" rx="1"/>')
        chars = int((w - 4) / (font * 0.6))
        if chars >= 3:
            text = node.name if len(node.name) <= chars else node.name[: max(chars - 2, 1)] + ".."
            out.append(f'<text x="{px + 2:.1f}" y="{y + frame_h - 4}">{html.escape(text)}</text>')
        out.append("</g>")
    out.append("</svg>")
    return "\n".join(out) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("input", nargs="?", help="perf script output (default: standard input)")
    ap.add_argument("--title", default="Flame graph")
    ap.add_argument("--width", type=int, default=1200)
    ap.add_argument("--min", type=float, default=0.1, dest="min_share")
    ap.add_argument("--folded", action="store_true")
    ap.add_argument("--comm")
    args = ap.parse_args()
    src = open(args.input, encoding="utf-8", errors="replace") if args.input else sys.stdin
    counts = fold(parse(src), args.comm)
    if not counts:
        print("flamegraph.py: no samples with callchains (record with perf record -g)", file=sys.stderr)
        return 1
    if args.folded:
        for stack, n in sorted(counts.items()):
            print(f"{stack} {n}")
        return 0
    sys.stdout.write(svg(build(counts), args.title, args.width, args.min_share))
    return 0


if __name__ == "__main__":
    sys.exit(main())
