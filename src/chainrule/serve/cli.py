"""``chainrule serve [--host 127.0.0.1] [--port 8000] [--workers N]``: run the practice page."""

from __future__ import annotations

import argparse
import ipaddress
import os
import socket
import sys

__all__ = ["serve_main"]


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def serve_main(argv: list[str]) -> int:
    """Parse the arguments, check the sandbox's preconditions, serve until interrupted."""
    parser = argparse.ArgumentParser(
        prog="chainrule serve",
        description="Serve the practice page: write a Value class in the browser, press Check.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="port (8000; 0 picks a free one)")
    cores = os.cpu_count() or 1
    parser.add_argument(
        "--workers", type=int, default=cores, help=f"gradings at once (cores: {cores})"
    )
    parser.add_argument("--queue", type=int, default=None, help="submissions that may wait (64)")
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds per check (10)")
    parser.add_argument("--memory", type=int, default=1024, help="memory limit in MiB (1024)")
    parser.add_argument(
        "--unsafe-no-namespaces",
        action="store_true",
        help="serve even where bubblewrap cannot create namespaces (weaker isolation)",
    )
    args = parser.parse_args(argv)
    if args.workers < 1 or (args.queue is not None and args.queue < 0):
        print("chainrule serve: --workers must be >= 1 and --queue >= 0", file=sys.stderr)
        return 2
    if args.timeout <= 0 or args.memory < 64:
        print("chainrule serve: --timeout must be > 0 and --memory >= 64", file=sys.stderr)
        return 2
    try:
        import uvicorn

        from chainrule.serve.app import create_app
    except ImportError as e:
        print(
            f"chainrule serve: {e.name} is not installed; pip install 'chainrule[serve]'",
            file=sys.stderr,
        )
        return 2
    from chainrule.serve.grading import namespaces_available

    ok, reason = namespaces_available()
    if not ok:
        if not args.unsafe_no_namespaces:
            print(
                f"chainrule serve: refusing to start: {reason}. A service runs code from "
                "anyone who can reach it and needs the namespace layer of the sandbox; "
                "install bubblewrap, or pass --unsafe-no-namespaces to accept weaker isolation.",
                file=sys.stderr,
            )
            return 2
        print(
            f"chainrule serve: WARNING: no namespaces ({reason}); serving anyway with reduced "
            "isolation (--unsafe-no-namespaces)",
            file=sys.stderr,
        )
    loopback = _is_loopback(args.host)
    if not loopback:
        print(
            f"chainrule serve: WARNING: listening on {args.host}: anyone who can reach port "
            f"{args.port} can run code in the sandbox on this machine.",
            file=sys.stderr,
        )
    app = create_app(
        workers=args.workers,
        queue_size=args.queue,
        timeout=args.timeout,
        memory_mb=args.memory,
        # On loopback, only loopback names: a web page cannot DNS-rebind to this server.
        allowed_hosts=["127.0.0.1", "localhost", "[::1]", "::1"] if loopback else None,
        # Where namespaces work, every grading requires them (a grading never silently falls
        # back); only --unsafe-no-namespaces on a machine without them grades without.
        namespaces=ok,
    )
    config = uvicorn.Config(app, log_level="warning")
    # Bind here, so that the URL printed is the real one (with --port 0, the port the system
    # picked) and is printed before the first request can arrive.
    family = socket.AF_INET6 if ":" in args.host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((args.host.strip("[]"), args.port))
    except OSError as e:
        print(f"chainrule serve: cannot listen on {args.host}:{args.port}: {e}", file=sys.stderr)
        sock.close()
        return 1
    port = sock.getsockname()[1]
    shown = f"[{args.host.strip('[]')}]" if ":" in args.host else args.host
    print(f"chainrule serve: http://{shown}:{port}/  (Ctrl+C to stop)", flush=True)
    uvicorn.Server(config).run(sockets=[sock])
    return 0
