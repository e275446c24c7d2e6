"""``privguard serve --workers N``: N uvicorn processes, each with a listening socket of its own.

uvicorn's own supervisor gives every worker the same listening socket, and a worker that wakes
up accepts every connection waiting at that moment (uvloop drains the queue). A burst of new
keep-alive connections, such as a load balancer opening its pool, therefore often lands on one
worker and stays there: benchmarks/load.py saw 16 of 16 connections on one of two or four
workers (one core busy, the rest idle: 375-441 reads/s against about 800 for an even split).

Here each worker binds its own socket to the same address with ``SO_REUSEPORT``, and the kernel
spreads new connections over the listening sockets by a hash of their addresses and ports.
The parent holds one more socket bound to the address but not listening: it gets no connections,
but it makes a port taken by another program an error at start-up (not a worker that fails again
and again), and it keeps the address reserved while a worker restarts.

The parent restarts a worker that dies (its queued connections are reset, new ones go to the
others meanwhile), stops everything if a worker fails during start-up (it would fail again), on
SIGHUP replaces the workers one at a time (a reload: new settings, policy, catalog or keys; what
uvicorn's supervisor did, but each new worker serves before the old one stops), and on SIGINT or
SIGTERM asks every worker to finish the requests in flight (uvicorn's graceful shutdown) before
it exits. On Linux a worker also gets SIGTERM when the parent dies however it dies, so no orphan
goes on serving. Where ``SO_REUSEPORT`` is missing (Windows), uvicorn's supervisor runs instead.
"""

from __future__ import annotations

import ctypes
import logging
import multiprocessing
import os
import signal
import socket
import sys
import threading
import time
from multiprocessing.context import SpawnProcess
from multiprocessing.synchronize import Event as EventType
from typing import Any

import uvicorn
from uvicorn.config import STARTUP_FAILURE

logger = logging.getLogger("privguard.serve")
_spawn = multiprocessing.get_context("spawn")
BACKLOG = 2048  # uvicorn's default
_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def reuse_port_supported() -> bool:
    return hasattr(socket, "SO_REUSEPORT")


def _socket(host: str, port: int, *, listen: bool) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
        if listen:
            sock.listen(BACKLOG)
    except BaseException:
        sock.close()
        raise
    return sock


def _die_with_parent(parent: int) -> None:
    """Linux: SIGTERM this worker when the parent dies, ``kill -9`` included. An orphaned worker
    would go on serving, and run its sequencer against the database, with nobody to stop it."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != parent:  # the parent died before the line above took effect
        sys.exit(0)


class _Server(uvicorn.Server):
    """uvicorn's server, which tells the parent when it is serving (a reload waits for it)."""

    def __init__(self, config: uvicorn.Config, ready: EventType) -> None:
        super().__init__(config)
        self.ready = ready

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        if self.started:
            self.ready.set()


def _worker(app: str, options: dict[str, Any], parent: int, ready: EventType) -> None:
    """A worker process: its own socket, one uvicorn server, until SIGTERM."""
    _die_with_parent(parent)
    # A hang-up sent to the whole process group is the parent's to act on (a reload).
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    config = uvicorn.Config(app, factory=True, **options)
    try:
        sock = _socket(config.host, config.port, listen=True)
    except OSError as exc:
        logger.error("cannot listen on %s:%s: %s", config.host, config.port, exc)
        sys.exit(STARTUP_FAILURE)  # it would fail again: the parent stops
    _Server(config, ready).run(sockets=[sock])


class Workers:
    """The parent: starts ``count`` workers and keeps them running until told to stop."""

    def __init__(
        self, app: str, options: dict[str, Any], count: int, *, startup_seconds: float = 60.0
    ) -> None:
        """``options`` are uvicorn.Config's, ``host`` and ``port`` among them."""
        self.app, self.count = app, count
        self.reserved = _socket(options["host"], options["port"], listen=False)
        # Port 0 asks the kernel for one: every worker must then bind the one it chose.
        self.options = {**options, "port": self.reserved.getsockname()[1]}
        # uvicorn's own graceful shutdown, and a little more before a worker is killed.
        self.grace_seconds = (options.get("timeout_graceful_shutdown") or 30) + 5
        self.startup_seconds = startup_seconds  # a reload's wait for each new worker
        self.processes: list[SpawnProcess] = []
        self.ready: dict[SpawnProcess, EventType] = {}
        self.stopping = threading.Event()
        self.reload = threading.Event()
        self.failed = False

    def _start(self) -> tuple[SpawnProcess, EventType]:
        ready = _spawn.Event()
        process = _spawn.Process(target=_worker, name="privguard-worker",
                                 args=(self.app, self.options, os.getpid(), ready))
        process.start()
        # Held while the worker lives: a collected Event unlinks its semaphore, and a worker
        # still starting would then fail to unpickle it.
        self.ready = {p: e for p, e in self.ready.items() if p.is_alive()}
        self.ready[process] = ready
        logger.info("worker %s started", process.pid)
        return process, ready

    def _replace_dead(self) -> None:
        for index, process in enumerate(self.processes):
            if process.is_alive() or self.stopping.is_set():
                continue
            process.join()
            if process.exitcode == STARTUP_FAILURE:
                logger.error("worker %s failed to start; stopping", process.pid)
                self.failed = True
                self.stopping.set()
                return
            logger.warning("worker %s died (exit code %s); starting another", process.pid,
                           process.exitcode)
            self.processes[index] = self._start()[0]

    def _stop(self, process: SpawnProcess) -> None:
        """SIGTERM (uvicorn finishes the requests in flight), SIGKILL after the grace. A
        worker told already is told again, which uvicorn ignores (only a second SIGINT
        hurries it)."""
        if process.is_alive():
            process.terminate()
        process.join(self.grace_seconds)
        if process.is_alive():
            logger.error("worker %s still running after %.0f s; killing it",
                         process.pid, self.grace_seconds)
            process.kill()
            process.join()

    def _reload(self) -> None:
        """SIGHUP: replace the workers one at a time, each new one serving before the old one
        stops, so the service never runs short of a worker. New workers read the settings,
        policy, catalog and keys again. If one cannot start (a broken policy file, say), the
        old workers go on serving and the reload stops there."""
        logger.info("reload: replacing %d workers one at a time", len(self.processes))
        for index, old in enumerate(list(self.processes)):
            new, ready = self._start()
            deadline = time.monotonic() + self.startup_seconds
            while not ready.wait(0.2):
                if not new.is_alive() or self.stopping.is_set() or time.monotonic() > deadline:
                    break
            if not ready.is_set():
                self._stop(new)
                if not self.stopping.is_set():
                    logger.error("reload: worker %s did not start; the old workers go on "
                                 "serving", new.pid)
                return
            self.processes[index] = new
            self._stop(old)
        logger.info("reload: done")

    def run(self) -> int:
        """Serve until SIGINT/SIGTERM, reloading on SIGHUP; 0, or 1 if a worker could not
        start."""
        previous = {sig: signal.signal(sig, lambda *_: self.stopping.set())
                    for sig in (signal.SIGINT, signal.SIGTERM)}
        previous[signal.SIGHUP] = signal.signal(signal.SIGHUP, lambda *_: self.reload.set())
        try:
            self.processes = [self._start()[0] for _ in range(self.count)]
            while not self.stopping.wait(0.5):
                if self.reload.is_set():
                    self.reload.clear()
                    self._reload()
                self._replace_dead()
            for process in self.processes:
                if process.is_alive():
                    process.terminate()  # all at once: they finish their requests together
            for process in self.processes:
                self._stop(process)
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            self.reserved.close()
        return 1 if self.failed else 0
