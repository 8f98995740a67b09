"""prelabel: a self-hosted annotation server for text classification with an AutoML pre-annotation loop.

The package root re-exports only the SDK client, so `import prelabel` stays light and never touches the server.
"""

from prelabel.client import Client, PrelabelAPIError

__version__ = "0.1.0"
__all__ = ["Client", "PrelabelAPIError", "__version__"]
