"""`python -m bench serve`: the gateway on 127.0.0.1, with the backends it needs, until SIGTERM
or Ctrl-C; everything it started is stopped when it ends.

No --redis-url: an embedded redis-server (REDIS_URL if set); no --log-url: the embedded
Kafka-protocol broker for --backend kafka (KAFKA_BOOTSTRAP if set), that same Redis for
--backend redis. One event loop (uvloop) runs uvicorn's HTTP server and the gateway; grpc's
thread-pool server (the default, `--grpc-server sync`) hands each call to that loop, and
`--grpc-server aio` runs the grpc.aio server on the loop itself instead; `--http-server granian`
runs the same app under granian in processes of its own.

When it is ready it prints one JSON line on stdout, for the tools that start it (make load,
tests): {"event": "ready", "http": "http://127.0.0.1:P", "grpc": "127.0.0.1:Q" | null,
"service_pids": [...], "backend_pids": [...], "redis_url": ..., "log_url": ..., "impl": ...}.
`service_pids` are the processes whose CPU is the service's; `backend_pids` the embedded
servers' (measured apart).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from bench.service.config import GatewayConfig

HTTP_SERVERS = ("uvicorn", "granian")
GRPC_SERVERS = ("aio", "sync", "none")
# The faster of the two in the lab's own measure (make load at 300 req/s: the sync server spent
# less CPU per Submit and per Echo than grpc.aio, each beside the other in one run; the service
# table shows both), so it is the default; grpc.aio stays as the measured peer.
DEFAULT_GRPC_SERVER = "sync"
GRANIAN_START_S = 30.0


def _listen(port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    sock.listen(1024)
    sock.set_inheritable(True)
    return sock


@contextlib.contextmanager
def backends(redis_url: str | None, backend: str, log_url: str | None):
    """(redis_url, log_url, backend pids): the given URLs, or embedded servers stopped on exit."""
    from bench.backends.kafka import kafka_target
    from bench.backends.redis import redis_target

    with contextlib.ExitStack() as stack:
        pids = []
        if redis_url is None:
            target = stack.enter_context(redis_target())
            redis_url = target.url
            if target.server is not None:
                pids.append(target.server.pid)
        if log_url is None:
            if backend == "redis":
                log_url = redis_url
            else:
                target = stack.enter_context(kafka_target())
                log_url = target.bootstrap
                if target.broker is not None:
                    pids.append(target.broker.pid)
        yield redis_url, log_url, pids


def _ready(**fields) -> None:
    print(json.dumps({"event": "ready", **fields}), flush=True)


async def _wait_for_signal() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for number in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(number, stop.set)
    await stop.wait()


class _Uvicorn:
    """uvicorn.Server whose serve() does not re-raise the SIGTERM or SIGINT it caught once it
    has shut down: re-raised, it reached the backends' handlers (bench.backends.process), which
    stop the embedded servers and end the process before the gateway closed its clients."""

    @staticmethod
    def server(config):
        import uvicorn

        class Server(uvicorn.Server):
            @contextlib.contextmanager
            def capture_signals(self):
                loop = asyncio.get_running_loop()
                for number in (signal.SIGINT, signal.SIGTERM):
                    loop.add_signal_handler(number, self.handle_exit, number, None)
                try:
                    yield
                finally:
                    for number in (signal.SIGINT, signal.SIGTERM):
                        loop.remove_signal_handler(number)

        return Server(config)


async def serve_uvicorn(config: GatewayConfig, http_port: int, grpc_port: int, grpc_server: str,
                        backend_pids: list[int]) -> None:
    import uvicorn

    from bench.service import grpc_server as grpc_module
    from bench.service.gateway import Gateway
    from bench.service.rest import create_app

    gateway = Gateway(config)
    await gateway.start()
    grpc_handle = None
    try:
        sock = _listen(http_port)
        server = _Uvicorn.server(uvicorn.Config(create_app(config, gateway), loop="none", http="httptools",
                                               lifespan="on", access_log=False, log_level="warning",
                                               timeout_graceful_shutdown=3))
        bound_grpc = None
        if grpc_server == "aio":
            grpc_handle, bound_grpc = await grpc_module.start_aio(gateway, grpc_port)
        elif grpc_server == "sync":
            grpc_handle, bound_grpc = grpc_module.start_sync(gateway, grpc_port, asyncio.get_running_loop())
        serving = asyncio.create_task(server.serve(sockets=[sock]))
        while not server.started and not serving.done():
            await asyncio.sleep(0.01)
        if serving.done():
            serving.result()  # raises what stopped it
        _ready(http=f"http://127.0.0.1:{sock.getsockname()[1]}",
               grpc=None if bound_grpc is None else f"127.0.0.1:{bound_grpc}", http_server="uvicorn",
               grpc_server=grpc_server, service_pids=[os.getpid()], backend_pids=backend_pids,
               redis_url=config.redis_url, log_url=config.log_url, backend=config.backend, impl=config.impl,
               topic=config.topic, partitions=config.partitions)
        await serving  # uvicorn handles SIGINT and SIGTERM: it returns after a graceful shutdown
    finally:
        if grpc_handle is not None:
            stopped = grpc_handle.stop(1.0)
            if asyncio.iscoroutine(stopped):
                await stopped
            else:
                await asyncio.to_thread(stopped.wait, 2.0)
        await gateway.close()


def serve_granian(config: GatewayConfig, http_port: int, backend_pids: list[int]) -> None:
    """granian, a process tree of its own running rest.app_from_env, until SIGTERM or Ctrl-C."""
    import psutil

    from bench.backends.process import accepts_connections, free_port
    from bench.service.rest import CONFIG_ENV

    port = http_port or free_port()
    env = {**os.environ, CONFIG_ENV: json.dumps(dataclasses.asdict(config))}
    command = [str(Path(sys.executable).with_name("granian")), "--interface", "asgi", "--host", "127.0.0.1",
               "--port", str(port), "--workers", "1", "--loop", "uvloop", "--no-ws", "--log-level", "warning",
               "--factory", "bench.service.rest:app_from_env"]
    process = subprocess.Popen(command, env=env, start_new_session=True)
    try:
        deadline = time.monotonic() + GRANIAN_START_S
        while not accepts_connections(port):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"granian did not start on port {port} (exit code {process.poll()})")
            time.sleep(0.05)
        tree = [process.pid] + [child.pid for child in psutil.Process(process.pid).children(recursive=True)]
        _ready(http=f"http://127.0.0.1:{port}", grpc=None, http_server="granian", grpc_server="none",
               service_pids=tree, backend_pids=backend_pids, redis_url=config.redis_url, log_url=config.log_url,
               backend=config.backend, impl=config.impl, topic=config.topic, partitions=config.partitions)
        asyncio.run(_wait_for_signal())
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def serve(args) -> int:
    import uvloop

    from impls import registry

    impl = args.impl or registry.preferred("serial")
    with backends(args.redis_url, args.backend, args.log_url) as (redis_url, log_url, backend_pids):
        config = GatewayConfig(impl=impl, backend=args.backend, log_url=log_url, redis_url=redis_url,
                               topic=args.topic, partitions=args.partitions, limit=args.limit,
                               limit_capacity=args.limit_capacity, limit_rate=args.limit_rate,
                               timeout_s=args.timeout)
        if args.http_server == "granian":
            serve_granian(config, args.http_port, backend_pids)
        else:
            uvloop.run(serve_uvicorn(config, args.http_port, args.grpc_port, args.grpc_server, backend_pids))
    return 0


def add_arguments(p) -> None:
    p.add_argument("--impl", help="the tier of every hot path (default: the preferred one)")
    p.add_argument("--http-port", type=int, default=8080, help="0: any free port (default 8080)")
    p.add_argument("--grpc-port", type=int, default=50051, help="0: any free port (default 50051)")
    p.add_argument("--redis-url", help="idempotency keys and --limit redis (default: an embedded redis-server)")
    p.add_argument("--backend", choices=("kafka", "redis"), default="kafka", help="the log (default kafka)")
    p.add_argument("--log-url", help="Kafka host:port or redis://... (default: the embedded broker, or the "
                                     "Redis of --redis-url for --backend redis)")
    p.add_argument("--topic", default="lab.orders")
    p.add_argument("--partitions", type=int, default=8)
    p.add_argument("--limit", choices=("local", "redis"), default="local",
                   help="local: the tier's keyed limiter in this process; redis: the Redis tier, shared")
    p.add_argument("--limit-rate", type=float, default=100.0, help="orders/s per client (user_id)")
    p.add_argument("--limit-capacity", type=float, default=50.0, help="burst per client")
    p.add_argument("--timeout", type=float, default=2.0, help="seconds Redis or the log may take before a 503")
    p.add_argument("--http-server", choices=HTTP_SERVERS, default="uvicorn")
    p.add_argument("--grpc-server", choices=GRPC_SERVERS, default=DEFAULT_GRPC_SERVER)
