"""A server's own CPU time: every process of it, those that exited included (Dovecot's
login and mail processes live for one connection), from a cgroup v2 of its own.

The server is put into the group before it runs (`Popen(preexec_fn=group.enter)`), so all
its descendants are born in it, and `cpu.stat`'s `usage_usec` counts them, whoever reaps
them; that needs no CPU controller, only a writable cgroup2 mount (as root). Summing
/proc/PID/stat over a process tree would miss children that exited unreaped or whose parent
is gone, and races with processes starting and ending while it reads /proc.
"""

import os
import time


def cgroup2_mount():
    """Where the cgroup v2 hierarchy is mounted (/sys/fs/cgroup, or /sys/fs/cgroup/unified
    on a hybrid system), or None."""
    with open("/proc/mounts") as f:
        for line in f:
            fields = line.split()
            if len(fields) > 2 and fields[2] == "cgroup2":
                return fields[1]
    return None


class CpuGroup:
    """A cgroup of one server; `seconds()` is the CPU time of everything that ran in it."""

    def __init__(self, name):
        mount = cgroup2_mount()
        if mount is None:
            raise OSError("no cgroup2 hierarchy mounted")
        self.path = os.path.join(mount, f"pop3bench-{name}-{os.getpid()}")
        os.makedirs(self.path, exist_ok=True)

    def enter(self):
        """Moves the calling process into the group (for preexec_fn: the server's own)."""
        with open(os.path.join(self.path, "cgroup.procs"), "w") as f:
            f.write("0")

    def seconds(self):
        with open(os.path.join(self.path, "cpu.stat")) as f:
            for line in f:
                key, value = line.split()
                if key == "usage_usec":
                    return int(value) / 1e6
        raise OSError(f"no usage_usec in {self.path}/cpu.stat")

    def remove(self, wait=10.0):
        """Removes the group once its processes are gone (the kernel refuses it before),
        waiting up to `wait` seconds for the last ones to exit."""
        until = time.monotonic() + wait
        while True:
            try:
                os.rmdir(self.path)
                return
            except FileNotFoundError:
                return
            except OSError:
                if time.monotonic() > until:
                    return
                time.sleep(0.1)


def cpu_group(name, log):
    """A CpuGroup, or None (and a note in the log) where cgroups cannot be made here."""
    try:
        return CpuGroup(name)
    except OSError as error:
        log(f"no server CPU figures: cannot make a cgroup v2 for {name} ({error})")
        return None
