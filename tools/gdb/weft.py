# weft's gdb commands: fibers, not just threads.
#
#   (gdb) source tools/gdb/weft.py     # or let gdb auto-load it (see below)
#   (gdb) info weft-fibers             # every live fiber: id, name, state,
#                                      # worker, where it waits
#   (gdb) weft-bt 7                    # backtrace of fiber #7 (or: weft-bt sleeper)
#
# How it finds them: weft_debug_schedulers (fibers/scheduler.cc) heads the
# list of live runtimes; each worker keeps the fibers it created on a list
# (Worker::live_, Fiber::all_next). A parked or runnable fiber's registers
# are saved on its own stack at Fiber::sp, in the record
# fibers/context_x86_64.S describes (rbp at +0x30, the resume address at
# +0x38), so its frames are walked by frame pointer from there, down to
# weft_fiber_start. A running fiber is on its thread's stack: use gdb's own
# `thread N` and `bt`.
#
# Auto-loading: every weft program carries this script in a
# .debug_gdb_scripts section (fibers/CMakeLists.txt), and gdb runs it when it
# loads the program if its auto-load safe-path allows that program, e.g.
#   add-auto-load-safe-path /path/to/your/build
# in ~/.gdbinit. Else: source <prefix>/share/weft/gdb/weft.py (installed),
# or gdb -x tools/gdb/weft.py.
#
# Needs the program's debug info (weft's default build type has it).
import gdb

STATES = {0: "runnable", 1: "running", 2: "parked", 3: "finished"}
# Frames of the runtime's own waiting machinery, skipped when saying where a
# fiber waits.
INTERNAL = ("weft::fibers::", "weft::sync::", "weft_context", "weft::io::perform", "weft::io::(anonymous")


def _read_u64(addr):
    mem = gdb.selected_inferior().read_memory(addr, 8)
    return int.from_bytes(bytes(mem), "little")


def _schedulers():
    try:
        s = gdb.parse_and_eval("weft_debug_schedulers")
    except gdb.error:
        raise gdb.GdbError("weft: no weft_debug_schedulers here (not a weft program, or no debug info)")
    while int(s) != 0:
        yield s.dereference()
        s = s.dereference()["debug_next_"]


def _workers(sched):
    impl = sched["workers_"]["_M_impl"]
    start = impl["_M_start"]
    count = int(impl["_M_finish"] - start)
    for i in range(count):
        w = (start + i).dereference()
        if int(w) != 0:
            yield i, w.dereference()


def fibers():
    """(fiber value, worker index it was made on, running worker index or None)."""
    for sched in _schedulers():
        workers = list(_workers(sched))
        running = {}
        for i, w in workers:
            cur = w["current_"]
            if int(cur) != int(w["home_"].address):
                running[int(cur)] = i
        for i, w in workers:
            f = w["live_"]
            while int(f) != 0:
                yield f.dereference(), i, running.get(int(f))
                f = f.dereference()["all_next"]


def _entry_return():
    try:
        return int(gdb.parse_and_eval("(long)&weft_fiber_start_return"))
    except gdb.error:
        return None


def frames_of(fiber):
    """Return addresses of a fiber that is not running, innermost first.

    The walk stays inside the fiber's stack mapping and stops at anything
    unreadable, so one odd fiber never ends the listing of the others."""
    sp = int(fiber["sp"])
    if sp == 0:
        return []
    base = int(fiber["stack"]["base"])
    top = base + int(fiber["stack"]["size"])

    def inside(addr):
        return base <= addr and addr + 16 <= top and addr % 8 == 0

    entry = _entry_return()
    pcs = []
    try:
        if not inside(sp):
            return []
        rbp = _read_u64(sp + 0x30)
        pcs.append(_read_u64(sp + 0x38))
        while rbp != 0 and inside(rbp) and len(pcs) < 256:
            ret = _read_u64(rbp + 8)
            if ret == 0:
                break
            pcs.append(ret)
            if ret == entry:
                break
            nxt = _read_u64(rbp)
            if nxt <= rbp:
                break
            rbp = nxt
    except gdb.MemoryError:
        pass
    return pcs


def describe(pc, innermost=False):
    """(function name, 'file:line' or '') of a return address. (Every frame
    of a parked fiber is one: the innermost returns into the switch.)"""
    look = pc - 1
    name = None
    try:
        block = gdb.block_for_pc(look)
        while block is not None and block.function is None:
            block = block.superblock
        if block is not None:
            name = block.function.print_name
    except RuntimeError:
        pass
    if name is None:
        text = gdb.execute("info symbol 0x%x" % look, to_string=True).strip()
        name = text.split(" in section")[0] if "No symbol" not in text else "??"
        name = name.split(" + ")[0]
    sal = gdb.find_pc_line(look)
    where = "%s:%d" % (sal.symtab.filename, sal.line) if sal.symtab is not None else ""
    return name, where


def waits_on(fiber):
    for n, pc in enumerate(frames_of(fiber)):
        name, _ = describe(pc)
        if not name.startswith(INTERNAL):
            return name
    return ""


def _name(fiber):
    raw = fiber["name"]
    chars = []
    for i in range(32):
        c = int(raw[i])
        if c == 0:
            break
        chars.append(chr(c))
    return "".join(chars) or "(unnamed)"


class InfoWeftFibers(gdb.Command):
    """List weft's live fibers: id, name, state, worker, and where a parked one waits."""

    def __init__(self):
        super().__init__("info weft-fibers", gdb.COMMAND_STATUS)

    def invoke(self, arg, from_tty):
        rows = []
        for f, made_on, running_on in fibers():
            state = STATES.get(int(f["state"]), "?")
            if running_on is not None:
                worker = "%d (running)" % running_on
                where = "-"
            else:
                worker = "made on %d" % made_on
                where = waits_on(f) if int(f["sp"]) != 0 else "(not started)"
            rows.append((int(f["id"]), _name(f), state, worker, where))
        if not rows:
            print("weft: no live fibers")
            return
        print("%-6s %-20s %-9s %-14s %s" % ("id", "name", "state", "worker", "waits in"))
        for r in sorted(rows):
            print("%-6d %-20s %-9s %-14s %s" % r)


class WeftBacktrace(gdb.Command):
    """Backtrace of a fiber that is not running: weft-bt ID or weft-bt NAME."""

    def __init__(self):
        super().__init__("weft-bt", gdb.COMMAND_STACK)

    def invoke(self, arg, from_tty):
        arg = arg.strip()
        if not arg:
            raise gdb.GdbError("usage: weft-bt ID|NAME")
        chosen = None
        for f, made_on, running_on in fibers():
            if (arg.isdigit() and int(f["id"]) == int(arg)) or _name(f) == arg:
                chosen = (f, running_on)
                break
        if chosen is None:
            raise gdb.GdbError("weft: no live fiber %s" % arg)
        f, running_on = chosen
        if running_on is not None:
            print("fiber #%d (%s) is running on worker %d: select its thread and use bt"
                  % (int(f["id"]), _name(f), running_on))
            return
        pcs = frames_of(f)
        if not pcs:
            print("fiber #%d (%s) has not started yet" % (int(f["id"]), _name(f)))
            return
        print("fiber #%d (%s), %s:" % (int(f["id"]), _name(f), STATES.get(int(f["state"]), "?")))
        for n, pc in enumerate(pcs):
            name, where = describe(pc)
            print("#%-2d 0x%016x in %s%s" % (n, pc, name, (" at " + where) if where else ""))


InfoWeftFibers()
WeftBacktrace()
