#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
# uevent-client.py: the client side of run-uevent.sh, on the bus in $DBUS_SYSTEM_BUS_ADDRESS,
# with vfio-assignd reading "ACTION ADDRESS" lines from FIFO and its tree at HOST.
#
#   latency HOST FIFO ROUNDS SAMPLES: in each round, SAMPLES times, interleaved and alternating
#     which goes first: (a) flips numa_node of one device in the tree, writes "change ADDR" to
#     the FIFO and waits for the device's PropertiesChanged; (b) the baseline, a Ping's round
#     trip from the same client through the same main loop. Prints one line per round:
#     "signal_p50 signal_p99 ping_p50 ping_p99" in ms.
#   storm HOST FIFO EVENTS: a writer thread flips numa_node of EVENTS devices one after the other
#     (as the kernel changes a device before its uevent goes out) and writes one "change ADDR"
#     line per event with one write(), as fast as the FIFO takes them. The storm ends when the
#     daemon has read the whole FIFO (FIONREAD 0) and then answers a Ping: a single-threaded
#     event loop answers it only after it has handled, and signalled, every line it read.
#     Prints "events seconds max_write_ms writes_over_100ms".
import fcntl
import os
import struct
import sys
import termios
import threading
import time

import dbus
import dbus.mainloop.glib
from gi.repository import GLib

BUS_NAME = "org.vfioassign1"
TIMEOUT_S = 10


def die(msg):
    sys.exit(f"uevent-client.py: {msg}")


def numa_path(host, addr):
    return f"{host}/sys/bus/pci/devices/{addr}/numa_node"


def flip_numa(host, addr):
    """numa_node 0 <-> 1 (mkbighost gives every device 0 or 1): a property change that
    touches nothing else in the daemon's decisions (no driver, no group, no policy)."""
    path = numa_path(host, addr)
    with open(path) as f:
        old = f.read().strip()
    with open(path, "w") as f:
        f.write("1\n" if old == "0" else "0\n")


def percentile(values, p):
    """Nearest rank."""
    v = sorted(values)
    k = max(0, min(len(v) - 1, -(-len(v) * p // 100) - 1))
    return v[int(k)]


class Client:
    def __init__(self):
        dbus.mainloop.glib.DBusGMainLoop(set_as_default=True)
        self.bus = dbus.SystemBus()
        self.root = self.bus.get_object(BUS_NAME, "/org/vfioassign1")
        self.manager = dbus.Interface(self.root, "org.vfioassign1.Manager")
        self.loop = GLib.MainLoop()
        self.done = None
        self.want = None

    def devices(self):
        return sorted((str(d[0]), str(d[1])) for d in self.manager.ListDevices())

    def _finish(self, kind):
        # A late or stray message of the other kind must not end this wait.
        if kind == self.want and self.done is None:
            self.done = time.perf_counter()
            self.loop.quit()

    def _timeout(self):
        self.loop.quit()
        return False

    def wait(self, kind):
        """Runs the main loop until a message of this kind came; returns its time."""
        self.want = kind
        if self.done is None:
            source = GLib.timeout_add(TIMEOUT_S * 1000, self._timeout)
            self.loop.run()
            if self.done is not None:
                GLib.source_remove(source)
        if self.done is None:
            die(f"no {kind} within {TIMEOUT_S} s")
        t, self.done, self.want = self.done, None, None
        return t

    def ping_ms(self):
        self.want = "Ping reply"
        t0 = time.perf_counter()
        self.root.Ping(dbus_interface="org.freedesktop.DBus.Peer",
                       reply_handler=lambda: self._finish("Ping reply"),
                       error_handler=lambda e: die(f"Ping: {e}"))
        return (self.wait("Ping reply") - t0) * 1000


def latency(host, fifo_path, rounds, samples):
    c = Client()
    devices = c.devices()
    addr, path = devices[len(devices) // 2]
    c.bus.add_signal_receiver(lambda *args: c._finish("PropertiesChanged"),
                              signal_name="PropertiesChanged",
                              dbus_interface="org.freedesktop.DBus.Properties", path=path)
    fifo = os.open(fifo_path, os.O_WRONLY | os.O_CLOEXEC)
    line = f"change {addr}\n".encode()

    def signal_ms():
        flip_numa(host, addr)
        c.want = "PropertiesChanged"
        t0 = time.perf_counter()
        os.write(fifo, line)
        return (c.wait("PropertiesChanged") - t0) * 1000

    c.ping_ms()  # warm-up: the match rule is in place once the bus has answered
    for _ in range(rounds):
        sig, ping = [], []
        for i in range(samples):
            if i % 2:
                ping.append(c.ping_ms())
                sig.append(signal_ms())
            else:
                sig.append(signal_ms())
                ping.append(c.ping_ms())
        print(f"{percentile(sig, 50):.3f} {percentile(sig, 99):.3f} "
              f"{percentile(ping, 50):.3f} {percentile(ping, 99):.3f}", flush=True)
    os.close(fifo)


def storm(host, fifo_path, events):
    c = Client()
    devices = c.devices()
    fifo = os.open(fifo_path, os.O_WRONLY | os.O_CLOEXEC)
    writes = []

    def writer():
        # More events than devices (small hosts) go round again.
        for i in range(events):
            addr = devices[i % len(devices)][0]
            flip_numa(host, addr)
            line = f"change {addr}\n".encode()
            t = time.perf_counter()
            os.write(fifo, line)
            writes.append(time.perf_counter() - t)

    c.ping_ms()
    t0 = time.perf_counter()
    th = threading.Thread(target=writer)
    th.start()
    th.join()
    buf = bytearray(4)
    while True:
        fcntl.ioctl(fifo, termios.FIONREAD, buf)
        if struct.unpack("i", buf)[0] == 0:
            break
        time.sleep(0.001)
    c.ping_ms()
    t1 = time.perf_counter()
    os.close(fifo)
    print(f"{events} {t1 - t0:.3f} {max(writes) * 1000:.3f} {sum(w > 0.1 for w in writes)}")


def main():
    if len(sys.argv) >= 6 and sys.argv[1] == "latency":
        latency(sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]))
    elif len(sys.argv) >= 5 and sys.argv[1] == "storm":
        storm(sys.argv[2], sys.argv[3], int(sys.argv[4]))
    else:
        die("usage: latency HOST FIFO ROUNDS SAMPLES | storm HOST FIFO EVENTS")


main()
