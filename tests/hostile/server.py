"""The server under test, as a process: started on a free port, watched
through /proc (its resident memory and its descriptors), stopped with
SIGTERM (killed if it does not go), and the descriptor limits of both
sides raised for thousands of connections.
"""
import os
import re
import resource
import signal
import subprocess
import threading
import time

# Why a start can fail and the check should skip rather than fail: the
# backend asked for is not there (io_uring disabled or missing).
SKIP_START_WORDS = ("io_uring", "uring", "not supported", "Function not implemented")


class CannotStart(Exception):
    def __init__(self, message, skip):
        super().__init__(message)
        self.skip = skip


def raise_descriptor_limit(want):
    """Raises this process's RLIMIT_NOFILE towards `want` (as far as the hard
    limit allows); returns the soft limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = want if hard == resource.RLIM_INFINITY else min(want, hard)
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


class Server:
    """One server process. `nofile`: its RLIMIT_NOFILE (raised in the child
    before exec; none: inherited)."""

    def __init__(self, binary, flags, nofile=None):
        def before_exec():
            if nofile is not None:
                _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
                limit = nofile if hard == resource.RLIM_INFINITY else min(nofile, hard)
                resource.setrlimit(resource.RLIMIT_NOFILE, (limit, hard))

        self.command = [binary, "--port", "0", *flags]
        self.proc = subprocess.Popen(self.command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True, preexec_fn=before_exec)
        # stderr is drained all along: a server that said a lot must not
        # block on a full pipe while it is being tested.
        self._stderr = []
        self._drain = threading.Thread(target=self._read_stderr, daemon=True)
        self._drain.start()
        line = self.proc.stdout.readline()
        m = re.match(r"listening on 127\.0\.0\.1:(\d+)", line)
        if not m:
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self._drain.join(5)
            err = "".join(self._stderr)
            skip = self.proc.returncode == 2 and any(w in err for w in SKIP_START_WORDS)
            raise CannotStart("%s did not start (exit %s): %r %s" % (
                " ".join(self.command), self.proc.returncode, line, err.strip()[-400:]), skip)
        self.port = int(m.group(1))
        self.pid = self.proc.pid

    def _read_stderr(self):
        for line in self.proc.stderr:
            self._stderr.append(line)

    def alive(self):
        return self.proc.poll() is None

    def rss_kib(self):
        """VmRSS in KiB (0 once the process has gone)."""
        try:
            with open("/proc/%d/status" % self.pid) as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        return int(line.split()[1])
        except OSError:
            pass
        return 0

    def descriptors(self):
        """Open descriptors (-1 once the process has gone)."""
        try:
            return len(os.listdir("/proc/%d/fd" % self.pid))
        except OSError:
            return -1

    def settle_descriptors(self, baseline, seconds=5.0):
        """Waits (at most `seconds`) for the descriptor count to come back to
        `baseline` (a closed connection lingers up to 200 ms, examples/service);
        returns the count when it did or the time ran out."""
        end = time.monotonic() + seconds
        n = self.descriptors()
        while n > baseline and time.monotonic() < end:
            time.sleep(0.05)
            n = self.descriptors()
        return n

    def stop(self, seconds=15):
        """SIGTERM, then up to `seconds` for it to exit (SIGKILL after).
        Returns (exit status, whether it had to be killed, stderr text)."""
        killed = False
        if self.alive():
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=seconds)
            except subprocess.TimeoutExpired:
                killed = True
                self.proc.kill()
                self.proc.wait()
        self._drain.join(5)
        self.proc.stdout.close()
        return self.proc.returncode, killed, "".join(self._stderr)

    def kill(self):
        if self.alive():
            self.proc.kill()
            self.proc.wait()


class MemoryWatch:
    """Samples a server's RSS every 50 ms in a thread, for the peak while a
    scenario runs."""

    def __init__(self, server):
        self.server = server
        self.peak = server.rss_kib()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        while not self._done.wait(0.05):
            self.peak = max(self.peak, self.server.rss_kib())

    def stop(self):
        self._done.set()
        self._thread.join(2)
        self.peak = max(self.peak, self.server.rss_kib())
        return self.peak
