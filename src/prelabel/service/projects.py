"""Projects, their members and roles, settings, and per-project counts.

Visibility: a project exists for a user only when they are a member (superusers see every project and act as
admins); everyone else gets NotFound. Roles rank labeler < reviewer < admin.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

from prelabel.domain import AssetStatus, Interface, Role, check_storable, parse_interface
from prelabel.errors import Conflict, InvalidInput, NotFound
from prelabel.service._access import interface_of, load_project, require, role_of
from prelabel.service.auth import Actor
from prelabel.service.dto import MemberOut, ProjectOut, ProjectStats
from prelabel.service.training import TRAINING_SETTINGS
from prelabel.store import projects as projects_repo
from prelabel.store import repositories as repo
from prelabel.store import tables as t
from prelabel.store import users as users_repo
from prelabel.store.engine import Session, Store


@dataclass(frozen=True)
class SettingSpec:
    default: Any
    help: str
    choices: tuple[str, ...] | None = None
    minimum: float | None = None
    maximum: float | None = None


_QUEUE_STRATEGIES = ("random", "least_confidence", "margin", "entropy", "mix")
_CHOICES: dict[str, tuple[str, ...]] = {
    "queue_strategy": _QUEUE_STRATEGIES,
    "queue_initial_order": ("diverse", "random", "import"),
    repo.SUGGESTIONS_SETTING: repo.SUGGESTION_SOURCES,
}
_BOUNDS: dict[str, tuple[float | None, float | None]] = {
    "honeypot_rate": (0.0, 1.0),
    "queue_random_share": (0.0, 1.0),
    "train_growth": (0.0, 10.0),
    "train_min_labels": (1, None),
    "train_min_new_labels": (1, None),
    "search_min_labels": (1, None),
    "search_budget_s": (1.0, 3600.0),
    "train_debounce_s": (0.0, 3600.0),
    "review_threshold": (0.0, 1.0),
}

# Every project setting: default, help text and limits. The trainer's settings (service.training) are
# included; `ProjectOut.settings` always carries every key with defaults filled in.
PROJECT_SETTINGS: dict[str, SettingSpec] = {
    key: SettingSpec(
        default,
        help_text,
        choices=_CHOICES.get(key),
        minimum=_BOUNDS.get(key, (None, None))[0],
        maximum=_BOUNDS.get(key, (None, None))[1],
    )
    for key, (default, help_text) in TRAINING_SETTINGS.items()
}


def validate_settings(settings: dict[str, Any] | None, base: dict[str, Any] | None = None) -> dict[str, Any]:
    """Merge `settings` into `base` after checking names, types and limits; InvalidInput names the setting."""
    check_storable(settings, "The settings")
    out = dict(base or {})
    if settings is None:
        return out
    if not isinstance(settings, dict):
        raise InvalidInput("Project settings must be an object of setting names to values.")
    for key, value in settings.items():
        spec = PROJECT_SETTINGS.get(key)
        if spec is None:
            raise InvalidInput(f"Unknown project setting {key!r}; known settings: {sorted(PROJECT_SETTINGS)}.")
        default = spec.default
        if isinstance(default, bool):
            ok = isinstance(value, bool)
        elif isinstance(default, int):
            ok = isinstance(value, int) and not isinstance(value, bool)
        elif isinstance(default, float):
            ok = isinstance(value, int | float) and not isinstance(value, bool)
            value = float(value) if ok else value
        else:
            ok = isinstance(value, str)
        if not ok:
            raise InvalidInput(f"Project setting {key!r} must be a {type(default).__name__}; got {value!r}.")
        if spec.choices and value not in spec.choices:
            raise InvalidInput(f"Project setting {key!r} must be one of {list(spec.choices)}; got {value!r}.")
        if spec.minimum is not None and value < spec.minimum:
            raise InvalidInput(f"Project setting {key!r} must be at least {spec.minimum}; got {value!r}.")
        if spec.maximum is not None and value > spec.maximum:
            raise InvalidInput(f"Project setting {key!r} must be at most {spec.maximum}; got {value!r}.")
        out[key] = value
    return out


def effective_settings(stored: dict[str, Any] | None) -> dict[str, Any]:
    """Every setting with its default filled in."""
    out = {key: spec.default for key, spec in PROJECT_SETTINGS.items()}
    out.update({k: v for k, v in (stored or {}).items() if k in PROJECT_SETTINGS})
    return out


def _out(project: t.Project, role: Role) -> ProjectOut:
    return ProjectOut(
        id=project.id,
        title=project.title,
        description=project.description or "",
        interface=project.interface,
        settings=effective_settings(project.settings),
        created_at=project.created_at,
        updated_at=project.updated_at,
        role=role,
    )


def _check_title(title: str) -> str:
    check_storable(title, "The title")
    title = (title or "").strip()
    if not title or len(title) > 200:
        raise InvalidInput("A project needs a title of 1-200 characters.")
    return title


def _interface_doc(interface: Any) -> dict[str, Any]:
    return parse_interface(interface).model_dump(mode="json")


def create_project(
    store: Store,
    actor: Actor,
    *,
    title: str,
    description: str = "",
    interface: dict[str, Any],
    settings: dict[str, Any] | None = None,
) -> ProjectOut:
    """Create a project (any user); the creator becomes its admin. The interface may be in our shape or the
    original workflow's ``jsonInterface`` shape; it is stored in ours."""
    title = _check_title(title)
    check_storable(description, "The description")
    doc = _interface_doc(interface)
    stored_settings = validate_settings(settings)
    with store.transaction() as s:
        if users_repo.get_user(s, actor.user_id) is None:
            raise NotFound("Your user no longer exists.")
        project = projects_repo.insert_project(
            s,
            title=title,
            description=description or "",
            interface=doc,
            settings=stored_settings,
            created_by=actor.user_id,
        )
        projects_repo.insert_member(s, project.id, actor.user_id, Role.ADMIN)
        return _out(project, Role.ADMIN)


def list_projects(store: Store, actor: Actor) -> list[ProjectOut]:
    """The projects the actor is a member of (superusers: all), oldest first."""
    with store.transaction(read_only=True) as s:
        if actor.is_superuser:
            return [_out(p, Role.ADMIN) for p in projects_repo.all_projects(s)]
        return [_out(p, Role(role)) for p, role in projects_repo.projects_of_member(s, actor.user_id)]


def get_project(store: Store, actor: Actor, project_id: int) -> ProjectOut:
    with store.transaction(read_only=True) as s:
        role = role_of(s, actor, project_id)
        return _out(load_project(s, project_id), role)


def role_in_project(store: Store, actor: Actor, project_id: int) -> Role:
    """The actor's role (superuser → admin); NotFound for non-members."""
    with store.transaction(read_only=True) as s:
        return role_of(s, actor, project_id)


def _used_categories(s: Session, project_id: int) -> tuple[Counter[tuple[str, str]], set[str]]:
    """(job, category) pairs used by labels and honeypot answers, and jobs with multi-category labels."""
    used: Counter[tuple[str, str]] = Counter()
    multi: set[str] = set()
    for resp in projects_repo.stored_answers(s, project_id):
        if not isinstance(resp, dict):
            continue
        for job, value in resp.items():
            cats = value.get("categories", []) if isinstance(value, dict) else []
            if len(cats) > 1:
                multi.add(job)
            for c in cats:
                if isinstance(c, dict) and "name" in c:
                    used[(job, c["name"])] += 1
    return used, multi


def _check_interface_change(s: Session, project_id: int, new: Interface) -> None:
    used, multi = _used_categories(s, project_id)
    jobs = {j.name: j for j in new.jobs}
    for (job, cat), n in sorted(used.items()):
        if job not in jobs:
            raise InvalidInput(
                f"The interface change removes job {job!r}, which {n} label(s) use; keep it "
                "(or delete those labels first)."
            )
        if cat not in jobs[job].category_keys():
            raise InvalidInput(
                f"The interface change removes category {cat!r} of job {job!r}, which {n} label(s) use; "
                "keep it (you may rename its display name)."
            )
    for job in sorted(multi):
        if job in jobs and jobs[job].input == "single":
            raise InvalidInput(
                f"Job {job!r} cannot become single-choice: some labels choose several of its categories."
            )


def update_project(
    store: Store,
    actor: Actor,
    project_id: int,
    *,
    title: str | None = None,
    description: str | None = None,
    interface: dict[str, Any] | None = None,
    settings: dict[str, Any] | None = None,
) -> ProjectOut:
    """Change a project (admin only). `settings` is merged into the stored settings. An interface change may
    not remove a job or category that labels use (the error names it)."""
    new_title = _check_title(title) if title is not None else None
    check_storable(description, "The description")
    new_interface = parse_interface(interface) if interface is not None else None
    with store.transaction() as s:
        project, role = require(s, actor, project_id, Role.ADMIN, "change the project")
        if new_interface is not None:
            _check_interface_change(s, project_id, new_interface)
        projects_repo.update_project(
            s,
            project,
            title=new_title,
            description=description,
            interface=new_interface.model_dump(mode="json") if new_interface is not None else None,
            settings=validate_settings(settings, project.settings) if settings is not None else None,
        )
        return _out(project, role)


def delete_project(store: Store, actor: Actor, project_id: int) -> None:
    """Delete a project and everything in it (admin only)."""
    with store.transaction() as s:
        project, _ = require(s, actor, project_id, Role.ADMIN, "delete the project")
        projects_repo.delete_project(s, project)


def _member_out(m: t.ProjectMember, username: str) -> MemberOut:
    return MemberOut(user_id=m.user_id, username=username, role=Role(m.role), created_at=m.created_at)


def _parse_role(role: str | Role) -> Role:
    try:
        return Role(role)
    except ValueError:
        raise InvalidInput(f"Unknown role {role!r}; use one of {[r.value for r in Role]}.") from None


def add_member(store: Store, actor: Actor, project_id: int, *, username: str, role: str | Role) -> MemberOut:
    """Add a user to the project with a role, or change a member's role (admin only). The last admin cannot be
    demoted."""
    new_role = _parse_role(role)
    check_storable(username, "The username")
    with store.transaction() as s:
        require(s, actor, project_id, Role.ADMIN, "manage members")
        user = users_repo.user_by_name(s, username)
        if user is None:
            raise NotFound(f"No user named {username!r}; create it first (`prelabel user create`).")
        member = projects_repo.get_member(s, project_id, user.id)
        if member is None:
            member = projects_repo.insert_member(s, project_id, user.id, new_role)
        else:
            if _demotes_last_admin(s, member, new_role):
                raise Conflict(f"{username!r} is the project's last admin; make someone else admin first.")
            projects_repo.set_member_role(s, member, new_role)
        return _member_out(member, user.username)


def _demotes_last_admin(s: Session, member: t.ProjectMember, new_role: Role | None) -> bool:
    """Whether giving `member` `new_role` (None: removing them) would leave the project without an admin."""
    return (
        member.role == Role.ADMIN.value
        and new_role != Role.ADMIN
        and projects_repo.admin_count(s, member.project_id) <= 1
    )


def remove_member(store: Store, actor: Actor, project_id: int, *, username: str) -> None:
    """Remove a member (admin only); the last admin cannot be removed."""
    check_storable(username, "The username")
    with store.transaction() as s:
        require(s, actor, project_id, Role.ADMIN, "manage members")
        user = users_repo.user_by_name(s, username)
        member = projects_repo.get_member(s, project_id, user.id) if user is not None else None
        if user is None or member is None:
            raise NotFound(f"{username!r} is not a member of project {project_id}.")
        if _demotes_last_admin(s, member, None):
            raise Conflict(f"{username!r} is the project's last admin; make someone else admin first.")
        projects_repo.delete_member(s, project_id, user.id)


def list_members(store: Store, actor: Actor, project_id: int) -> list[MemberOut]:
    with store.transaction(read_only=True) as s:
        require(s, actor, project_id)
        return [_member_out(m, name) for m, name in projects_repo.members_of(s, project_id)]


def project_stats(store: Store, actor: Actor, project_id: int) -> ProjectStats:
    """Counts for the project page: assets per status, labeled, predicted, to review, per class."""
    with store.transaction(read_only=True) as s:
        project, _ = require(s, actor, project_id)
        counts = projects_repo.project_counts(s, project_id)
        by_status = {st.value: 0 for st in AssetStatus}
        by_status.update(counts.by_status)
        n_labeled, class_counts = _class_counts(s, project_id, interface_of(project))
        return ProjectStats(
            project_id=project_id,
            n_assets=sum(by_status.values()),
            n_honeypots=counts.n_honeypots,
            by_status=by_status,
            n_labeled=n_labeled,
            n_labels=counts.n_labels,
            n_predicted=counts.n_predicted,
            n_to_review=counts.n_to_review,
            n_model_versions=counts.n_model_versions,
            class_counts=class_counts,
        )


def _class_counts(s: Session, project_id: int, interface: Interface) -> tuple[int, dict[str, dict[str, int]]]:
    """Labeled assets, and per job and category the assets whose effective label chooses it (every category of
    the interface included, also at 0)."""
    class_counts = {job.name: dict.fromkeys(job.category_keys(), 0) for job in interface.jobs}
    n_labeled = 0
    for rows in repo.iter_effective_labels(s, project_id):
        for _asset_id, _ext, _content, resp in rows:
            n_labeled += 1
            for job, value in resp.items():
                counts = class_counts.setdefault(job, {})
                for c in value.get("categories", []):
                    counts[c["name"]] = counts.get(c["name"], 0) + 1
    return n_labeled, class_counts
