"""``lllm serve``: a package's tactics over HTTP (and MCP), plugged into ``lllm`` by ``lllm.cli``."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import logging
import os
import signal
import sys
from pathlib import Path
from typing import Any, Iterator, List, Optional, Tuple

from lllm.serve.tactics import ServedTactic, ServeError


def _package(rt: Any, target: str) -> str:
    """The package name ``target`` names: a folder (or its lllm.toml), loaded now, or a loaded package."""
    path = Path(target).expanduser()
    if path.exists():
        from lllm.packages.discovery import load_trusted_package

        info, _ = load_trusted_package(path, rt)  # serving runs the package's code: the trust rule of `lllm check PATH`
        if info is not None:
            return str(info.effective_name)
        from lllm.packages.manifest import parse_toml

        toml = path if path.is_file() else path / "lllm.toml"
        name = parse_toml(toml.read_text(encoding="utf-8")).get("package", {}).get("name")
        if name in rt.packages:
            return str(name)
        raise ServeError(f"{target}: its package is already loaded from elsewhere; serve it by name.")
    if target in rt.packages:
        return target
    raise ServeError(
        f"No package folder or loaded package '{target}'. Loaded packages: {sorted(rt.packages)}; "
        f"pass a folder holding an lllm.toml."
    )


def build_served(
    rt: Any, package: str, config: Optional[str], model: Optional[str], store: Any, only: Optional[List[str]] = None
) -> Tuple[List[ServedTactic], List[str]]:
    """The package's tactics, built as ``lllm run`` builds them (config, ``--model``, offline default),
    and the notices to print (the offline fallback, tactics left out and why)."""
    from lllm.cli import CLIError, offline_model, tactic_config
    from lllm.core.tactic import build_tactic

    served: List[ServedTactic] = []
    notes: List[str] = []
    nodes = [n for n in rt.iter_nodes("tactic") if n.namespace.partition(".")[0] == package]
    if only:
        missing = sorted(set(only) - {n.key for n in nodes})
        if missing:
            raise ServeError(f"Package '{package}' has no tactic {missing}; it has {sorted(n.key for n in nodes)}.")
        nodes = [n for n in nodes if n.key in only]
    for node in nodes:
        said = io.StringIO()
        try:
            with contextlib.redirect_stderr(said):  # the offline notice, printed once below
                node, cfg = tactic_config(rt, node.qualified_key, config, model)
        except CLIError as e:
            notes.append(f"not serving {node.qualified_key}: {e}")
            continue
        if said.getvalue().strip() and said.getvalue().strip() not in notes:
            notes.insert(0, said.getvalue().strip())
        tactic = build_tactic(cfg, name=node.qualified_key, runtime=rt, log_store=store)
        served.append(ServedTactic.of(node.key, tactic, offline_model(model, cfg, node.value)))
    if not served:
        raise ServeError(f"Package '{package}' has no tactic to serve" + (f" ({'; '.join(notes)})" if notes else "."))
    return served, notes


def served_tactics(
    target: str,
    config: Optional[str] = None,
    model: Optional[str] = None,
    store: Any = None,
    runtime: Any = None,
    only: Optional[List[str]] = None,
) -> Tuple[List[ServedTactic], List[str]]:
    """The tactics ``lllm serve TARGET`` serves (a package folder or a loaded package's name), built in
    ``runtime`` (default: a new one), and its notices; pass them to ``lllm.serve.create_app``."""
    from lllm.packages.runtime import Runtime

    rt = runtime if runtime is not None else Runtime("serve")
    return build_served(rt, _package(rt, target), config, model, store, only)


def _store(explicit: Optional[str], rt: Any) -> Any:
    from lllm.logging.cli import open_store, store_path

    path = store_path(explicit)
    if path.startswith(("postgres://", "postgresql://")):
        from lllm.logging import postgres_store

        return postgres_store(path)
    return open_store(explicit, runtime=rt)


def cmd_serve(args: argparse.Namespace) -> int:
    from lllm.serve.app import check_bind

    token = args.token or os.environ.get("LLLM_SERVE_TOKEN") or None
    if not args.mcp_stdio:
        check_bind(args.host, token)
        return _cmd_serve(args, token)
    with _protocol_stdout() as protocol:
        return _cmd_serve(args, token, protocol)


@contextlib.contextmanager
def _protocol_stdout() -> Iterator[Any]:
    """For ``--mcp-stdio``: this process's stdout, kept for the protocol alone; whatever else writes to
    stdout meanwhile (a package's or tactic's print, a tool's subprocess) goes to stderr."""
    sys.stdout.flush()
    kept = os.dup(1)
    os.dup2(2, 1)
    protocol = os.fdopen(os.dup(kept), "wb")
    try:
        yield protocol
    finally:
        with contextlib.suppress(OSError, ValueError):
            sys.stdout.flush()
        protocol.close()
        os.dup2(kept, 1)
        os.close(kept)


def _cmd_serve(args: argparse.Namespace, token: Optional[str], protocol: Any = None) -> int:
    from lllm.cli import project_runtime
    from lllm.serve.app import Limits, create_app, serve

    rt = project_runtime()
    package = _package(rt, args.package)
    store = None if args.no_save else _store(args.store, rt)
    served, notes = build_served(rt, package, args.config, args.model, store, args.tactic)
    for note in notes:
        print(note, file=sys.stderr)
    limits = Limits(
        max_body_bytes=args.max_body,
        timeout_s=args.timeout,
        max_concurrency=args.max_concurrency,
        max_jobs=args.max_jobs,
        drain_s=args.drain,
        keep_jobs=args.keep_jobs,
        keep_jobs_s=args.keep_jobs_for,
    )
    app = create_app(served, store=store, token=token, limits=limits)
    shown = _warnings_to_stderr()
    try:
        if args.mcp_stdio:
            from lllm.serve.app import STATE
            from lllm.serve.mcp import run_stdio

            print(f"lllm serve: {len(served)} tactic(s) of '{package}' as MCP tools on stdio", file=sys.stderr)
            asyncio.run(run_stdio(app[STATE], protocol))
        else:
            asyncio.run(_serve(app, args.host, args.port, package, served, serve))
    finally:
        if shown is not None:
            logging.getLogger("lllm.serve").removeHandler(shown)
        if store is not None:
            store.close()
    print("lllm serve: stopped", file=sys.stderr)
    return 0


def _warnings_to_stderr() -> Optional[logging.Handler]:
    """Print the server's warnings (calls a shutdown cut off, a request that failed) on stderr, unless
    logging already shows them (``lllm.setup_logging`` or a handler of the application); the handler added."""
    logger: Optional[logging.Logger] = logging.getLogger("lllm.serve")
    while logger is not None:
        if any(not isinstance(h, logging.NullHandler) for h in logger.handlers):
            return None
        logger = logger.parent if logger.propagate else None
    handler = logging.StreamHandler(sys.stderr)
    handler.setLevel(logging.WARNING)
    handler.setFormatter(logging.Formatter("%(message)s"))
    logging.getLogger("lllm.serve").addHandler(handler)
    return handler


async def _serve(app: Any, host: str, port: int, package: str, served: List[ServedTactic], serve: Any) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):  # not on Windows
            loop.add_signal_handler(sig, stop.set)

    def ready(url: str) -> None:
        names = ", ".join(t.name for t in served)
        print(
            f"lllm serve: '{package}' ({names}) at {url} — docs {url}/openapi.json, MCP {url}/mcp (Ctrl-C to stop)",
            flush=True,
        )

    await serve(app, host, port, ready, stop)


def register(sub: Any) -> None:
    """Add ``serve`` to the ``lllm`` command."""
    p = sub.add_parser(
        "serve",
        help="serve a package's tactics over HTTP and MCP",
        description=(
            "Serve every tactic of a package: GET /tactics, POST /tactics/NAME/invoke (typed input, 422 when invalid), "
            "/stream (server-sent events), /batch and GET /jobs/ID, GET /sessions/ID, /openapi.json, /healthz, "
            "/metrics, and MCP at /mcp. Config, --model and the offline default model work as in `lllm run`."
        ),
    )
    p.add_argument(
        "package", metavar="PACKAGE_DIR_OR_NAME", help="a package folder (with lllm.toml) or a loaded package"
    )
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1; another needs --token)")
    p.add_argument("--port", type=int, default=8000, help="port (default 8000; 0 picks a free one)")
    p.add_argument("--config", metavar="NAME", help="config key for every tactic (default: each tactic's own)")
    p.add_argument("--model", metavar="M", help="model for every agent, e.g. gpt-4o-mini or test")
    p.add_argument(
        "--store",
        help="record sessions here: a .db file, a folder or a postgresql:// DSN "
        "(default: $LLLM_STORE or .lllm/sessions.db)",
    )
    p.add_argument("--no-save", action="store_true", help="record no session (no /sessions, no batches)")
    p.add_argument("--token", help="require 'Authorization: Bearer T' on every request (default: $LLLM_SERVE_TOKEN)")
    p.add_argument("--tactic", action="append", metavar="KEY", help="serve only this tactic (repeatable)")
    p.add_argument("--max-body", type=int, default=1 << 20, metavar="BYTES", help="request size limit (default 1 MiB)")
    p.add_argument("--timeout", type=float, default=300.0, metavar="SECONDS", help="per-call timeout (default 300)")
    p.add_argument(
        "--max-concurrency", type=int, default=64, metavar="N", help="calls in flight before answering 429 (default 64)"
    )
    p.add_argument(
        "--max-jobs", type=int, default=16, metavar="N", help="batch jobs running before answering 429 (default 16)"
    )
    p.add_argument(
        "--drain",
        type=float,
        default=30.0,
        metavar="SECONDS",
        help="on shutdown, how long in-flight calls may finish (default 30)",
    )
    p.add_argument(
        "--keep-jobs",
        type=int,
        default=1000,
        metavar="N",
        help="finished batch jobs kept in memory, newest first (default 1000); GET /jobs/ID reads the others from the store",
    )
    p.add_argument(
        "--keep-jobs-for",
        type=float,
        default=3600.0,
        metavar="SECONDS",
        help="how long a finished batch job is kept in memory (default 3600)",
    )
    p.add_argument("--mcp-stdio", action="store_true", help="serve the tactics as MCP tools over stdin/stdout instead")
    p.set_defaults(func=cmd_serve)


__all__ = ["register", "cmd_serve", "build_served", "served_tactics"]
