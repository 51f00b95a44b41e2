"""``python -m chainrule.playground [--port N] [--host H]``: serve the playground."""

from __future__ import annotations

import argparse
import sys

from chainrule.playground import serve


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m chainrule.playground",
        description="Serve the chainrule playground: watch backpropagation happen, in a browser.",
    )
    parser.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1, this machine only)"
    )
    parser.add_argument(
        "--port", type=int, default=8000, help="port to listen on (default: 8000; 0 picks a free one)"
    )
    args = parser.parse_args(argv)
    try:
        serve(args.host, args.port)
    except (OSError, ValueError) as e:
        print(f"chainrule playground: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
