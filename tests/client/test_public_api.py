"""The SDK's public surface and its isolation from the server."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import httpx

import prelabel
import prelabel.client as sdk

CLIENT_DIR = Path(sdk.__file__).parent

EXPECTED_ALL = {
    "DEFAULT_PAGE_SIZE",
    "DEFAULT_TIMEOUT",
    "Client",
    "PrelabelAPIError",
    "AuthenticationError",
    "ConflictError",
    "InvalidRequestError",
    "NotFoundError",
    "PermissionDeniedError",
    "ServerError",
    "Asset",
    "AssetPage",
    "ImportResult",
    "Label",
    "Member",
    "ModelVersion",
    "Prediction",
    "Project",
    "ProjectStats",
    "Token",
    "TrainingJob",
    "User",
    "UserSession",
}

ORIGINAL_NAMES = ("append_many_to_dataset", "projects", "assets", "create_predictions")
TYPED_NAMES = (
    "me",
    "create_token",
    "list_tokens",
    "revoke_token",
    "create_project",
    "list_projects",
    "get_project",
    "update_project",
    "delete_project",
    "project_stats",
    "list_members",
    "add_member",
    "remove_member",
    "import_assets",
    "import_file",
    "list_assets",
    "iter_assets",
    "get_asset",
    "get_asset_by_external_id",
    "create_label",
    "list_labels",
    "undo_label",
    "push_predictions",
    "list_predictions",
    "list_model_versions",
    "get_model_version",
    "export",
    "export_to_file",
    "train",
    "training_jobs",
    "next_asset",
    "review_list",
)


def test_all_is_exactly_the_public_surface() -> None:
    assert set(sdk.__all__) == EXPECTED_ALL
    assert len(sdk.__all__) == len(set(sdk.__all__))
    for name in sdk.__all__:
        assert hasattr(sdk, name), name
    public = {n for n in vars(sdk) if not n.startswith("_")} - {"annotations"}
    assert public - EXPECTED_ALL == set(), "unexported public names leak from prelabel.client"
    assert prelabel.Client is sdk.Client and prelabel.PrelabelAPIError is sdk.PrelabelAPIError


def test_client_has_the_original_and_typed_methods() -> None:
    for name in ORIGINAL_NAMES + TYPED_NAMES:
        assert callable(getattr(sdk.Client, name, None)), name


def test_exception_tree() -> None:
    for cls in (
        sdk.AuthenticationError,
        sdk.ConflictError,
        sdk.InvalidRequestError,
        sdk.NotFoundError,
        sdk.PermissionDeniedError,
        sdk.ServerError,
    ):
        assert issubclass(cls, sdk.PrelabelAPIError)
    request = httpx.Request("GET", "http://x/api/v1/me")
    response = httpx.Response(
        401,
        json={"error": {"code": "unauthenticated", "message": "Invalid API token.", "details": {}}},
        request=request,
    )
    from prelabel.client._exceptions import error_from_response

    err = error_from_response(response)
    assert isinstance(err, sdk.AuthenticationError)
    assert (err.status, err.code, err.message) == (401, "unauthenticated", "Invalid API token.")
    assert err.request is request and err.response is response
    # A body that is not ours (a proxy's HTML page) still gives a usable error.
    proxy = error_from_response(httpx.Response(502, text="<html>Bad gateway</html>", request=request))
    assert isinstance(proxy, sdk.ServerError) and proxy.code == "http_502" and "Bad gateway" in proxy.message


def test_sdk_sources_import_only_httpx_and_the_stdlib() -> None:
    allowed_third_party = {"httpx"}
    stdlib = set(sys.stdlib_module_names)
    for path in CLIENT_DIR.glob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if name.startswith("prelabel."):
                    assert name.startswith("prelabel.client"), f"{path.name} imports {name}"
                else:
                    assert top in stdlib or top in allowed_third_party or top == "__future__", (
                        f"{path.name} imports {name}"
                    )


def test_importing_the_sdk_loads_nothing_of_the_server() -> None:
    code = (
        "import sys, prelabel.client, prelabel; "
        "bad = sorted(m for m in sys.modules if m.startswith('prelabel.') "
        "and not m.startswith('prelabel.client')"
        " or m.split('.')[0] in ('sqlalchemy', 'fastapi', 'starlette', 'sklearn', 'numpy', 'pydantic')); "
        "print(','.join(bad))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == ""
