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
others meanwhile), stops everything if a worker fails during start-up (it would fail again), and on
SIGINT or SIGTERM asks every worker to finish the requests in flight (uvicorn's graceful
shutdown) before it exits. On Linux a worker also gets SIGTERM when the parent dies however it
dies, so no orphan goes on serving. Where ``SO_REUSEPORT`` is missing (Windows), uvicorn's
supervisor runs instead.
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
from multiprocessing.context import SpawnProcess
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


def _worker(app: str, options: dict[str, Any], parent: int) -> None:
    """A worker process: its own socket, one uvicorn server, until SIGTERM."""
    _die_with_parent(parent)
    config = uvicorn.Config(app, factory=True, **options)
    try:
        sock = _socket(config.host, config.port, listen=True)
    except OSError as exc:
        logger.error("cannot listen on %s:%s: %s", config.host, config.port, exc)
        sys.exit(STARTUP_FAILURE)  # it would fail again: the parent stops
    uvicorn.Server(config).run(sockets=[sock])


class Workers:
    """The parent: starts ``count`` workers and keeps them running until told to stop."""

    def __init__(self, app: str, options: dict[str, Any], count: int) -> None:
        """``options`` are uvicorn.Config's, ``host`` and ``port`` among them."""
        self.app, self.count = app, count
        self.reserved = _socket(options["host"], options["port"], listen=False)
        # Port 0 asks the kernel for one: every worker must then bind the one it chose.
        self.options = {**options, "port": self.reserved.getsockname()[1]}
        # uvicorn's own graceful shutdown, and a little more before a worker is killed.
        self.grace_seconds = (options.get("timeout_graceful_shutdown") or 30) + 5
        self.processes: list[SpawnProcess] = []
        self.stopping = threading.Event()
        self.failed = False

    def _start(self) -> SpawnProcess:
        process = _spawn.Process(target=_worker, name="privguard-worker",
                                 args=(self.app, self.options, os.getpid()))
        process.start()
        logger.info("worker %s started", process.pid)
        return process

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
            self.processes[index] = self._start()

    def run(self) -> int:
        """Serve until SIGINT/SIGTERM; 0, or 1 if a worker could not start."""
        previous = {sig: signal.signal(sig, lambda *_: self.stopping.set())
                    for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            self.processes = [self._start() for _ in range(self.count)]
            while not self.stopping.wait(0.5):
                self._replace_dead()
            for process in self.processes:
                if process.is_alive():
                    process.terminate()  # SIGTERM: uvicorn finishes the requests in flight
            for process in self.processes:
                process.join(self.grace_seconds)
                if process.is_alive():
                    logger.error("worker %s still running after %.0f s; killing it",
                                 process.pid, self.grace_seconds)
                    process.kill()
                    process.join()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            self.reserved.close()
        return 1 if self.failed else 0
