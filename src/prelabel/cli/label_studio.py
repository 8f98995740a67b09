"""`prelabel label-studio …`: the URL that connects a Label Studio project to prelabel as its ML backend, and a
project's Label Studio labeling config (docs/how-to/label-studio.md)."""

from __future__ import annotations

from typing import Annotated

import typer

from prelabel.cli.server import DEFAULT_HOST, DEFAULT_PORT, DatabaseOpt, UserOpt, _actor, _store, console, out

app = typer.Typer(help="Label Studio: connect a Label Studio project, print a labeling config.", no_args_is_help=True)


@app.command("connect")
def connect(
    user: UserOpt,
    project: Annotated[
        int | None,
        typer.Option("--project", "-p", help="Serve this prelabel project (default: one per Label Studio project, "
                     "created from its labeling config on first contact)."),
    ] = None,
    url: Annotated[
        str, typer.Option(help="prelabel's address as Label Studio's server reaches it.")
    ] = f"http://{DEFAULT_HOST}:{DEFAULT_PORT}",
    name: Annotated[str, typer.Option(help="Name of the API token the URL carries.")] = "label-studio",
    database_url: DatabaseOpt = None,
) -> None:
    """Create an API token for USER and print the ML backend URL to paste into Label Studio (Settings → Model →
    Connect Model). The URL is a credential: revoke the token to cut the connection."""
    from prelabel.service.auth import create_token
    from prelabel.service.projects import get_project

    with _store(database_url) as store:
        actor = _actor(store, user)
        if project is not None:
            get_project(store, actor, project)  # refuse an unknown project before making a token
        token, secret = create_token(store, actor, name)
    path = f"/label-studio/{secret}/" + (f"projects/{project}/" if project is not None else "")
    console.print(f"Created API token {token.name!r} (id {token.id}) for {user!r}; the URL is shown once:")
    out.print(url.rstrip("/") + path)


@app.command("config")
def config(
    project: Annotated[int, typer.Option("--project", "-p", help="Project id.")],
    user: UserOpt,
    database_url: DatabaseOpt = None,
) -> None:
    """Print the project's Label Studio labeling config: the connected Label Studio project's, else one made from
    the interface (paste it into a new Label Studio project before importing `prelabel export --format
    label-studio`)."""
    from prelabel.service.label_studio_json import label_config

    with _store(database_url) as store:
        out.print(label_config(store, _actor(store, user), project), end="")
