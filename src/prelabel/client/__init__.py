"""The prelabel Python SDK: `Client(url, token)` over the REST API. Uses httpx only and imports nothing from
the server, so it installs and imports light.

    from prelabel import Client
    with Client("http://127.0.0.1:8000", token="pl_…") as client:
        project = client.create_project("Tweets", {"jobs": [{"name": "JOB_0", "categories": [...]}]})
        client.import_file(project.id, "tweets.csv", id_column="id")
        for asset in client.iter_assets(project.id, labeled=True):
            ...

Errors from the server raise `PrelabelAPIError` (or a subclass: see `prelabel.client._exceptions`).
"""

from prelabel.client._client import DEFAULT_PAGE_SIZE, DEFAULT_TIMEOUT, Client
from prelabel.client._exceptions import (
    AuthenticationError,
    ConflictError,
    InvalidRequestError,
    NotFoundError,
    PermissionDeniedError,
    PrelabelAPIError,
    ServerError,
)
from prelabel.client._models import (
    Asset,
    AssetPage,
    ImportResult,
    Label,
    Member,
    ModelVersion,
    Prediction,
    Project,
    ProjectStats,
    Token,
    TrainingJob,
    User,
    UserSession,
)

__all__ = [
    "DEFAULT_PAGE_SIZE",
    "DEFAULT_TIMEOUT",
    "Asset",
    "AssetPage",
    "AuthenticationError",
    "Client",
    "ConflictError",
    "ImportResult",
    "InvalidRequestError",
    "Label",
    "Member",
    "ModelVersion",
    "NotFoundError",
    "PermissionDeniedError",
    "Prediction",
    "PrelabelAPIError",
    "Project",
    "ProjectStats",
    "ServerError",
    "Token",
    "TrainingJob",
    "User",
    "UserSession",
]
