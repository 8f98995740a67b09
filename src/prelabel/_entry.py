"""The `prelabel` command: the server's CLI, or a clear word when only the SDK is installed."""

from __future__ import annotations

import sys


def main() -> None:
    try:
        from prelabel.cli.main import main as cli_main
    except ModuleNotFoundError as exc:
        if exc.name is None or exc.name.split(".")[0] == "prelabel":
            raise
        sys.exit(
            f"The prelabel command needs the server's dependencies ({exc.name} is not installed): "
            "pip install 'prelabel[server]'. The Python SDK (`from prelabel import Client`) works without them."
        )
    cli_main()
