"""The REST API: `create_app(settings, *, store=None) -> FastAPI` (see `prelabel.api.app`)."""

from prelabel.api.app import create_app

__all__ = ["create_app"]
