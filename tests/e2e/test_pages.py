"""Pages through a real cloud's edge: the public contract, versions and their conflicts, bad
documents refused with their path, hostile documents rendered harmless, the trash, search,
roles, and sites that never see each other's pages."""

from __future__ import annotations

from html.parser import HTMLParser
from typing import Any

import pytest

from backends import BACKEND
from tenantry.services.pages.render import ALLOWED

from .api import Site, add_account, signup, token_for
from .cloud import Cloud
from .stored import shard_of, stored_rows

pytestmark = pytest.mark.e2e


def _doc(*blocks: dict[str, Any]) -> dict[str, Any]:
    return {"type": "doc", "content": list(blocks)}


def _para(text: str, marks: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    node: dict[str, Any] = {"type": "text", "text": text}
    if marks:
        node["marks"] = marks
    return {"type": "paragraph", "content": [node]}


HELLO = _doc(_para("Hello"))


def _as(site: Site, token: str) -> Site:
    return Site(site.name, site.cloud_id, site.region, token, site.http)


def _error(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert body["error"] == code, body
    return body


def _page(site: Site, title: str, body: dict[str, Any], **extra: Any) -> dict[str, Any]:
    made = site.request(
        "POST", "/rest/pages/pages", json={"space": "ENG", "title": title, "body": body, **extra}
    )
    assert made.status_code == 201, made.text
    page: dict[str, Any] = made.json()
    return page


@pytest.fixture(scope="module")
def site(cloud: Cloud) -> Site:
    made = signup(cloud, region="eu", prefix="pages")
    space = made.request("POST", "/rest/pages/spaces", json={"key": "ENG", "name": "Engineering"})
    assert space.status_code == 201, space.text
    return made


def test_the_public_contract(site: Site) -> None:
    made = _page(site, "Runbook", HELLO)
    assert made["version"] == 1
    page_id = made["id"]

    read = site.request("GET", f"/rest/pages/pages/{page_id}")
    assert read.status_code == 200, read.text
    page = read.json()
    assert (page["title"], page["body"], page["version"]) == ("Runbook", HELLO, 1)
    assert page["html"] == "<p>Hello</p>"

    second = _doc(_para("Hello, world"))
    saved = site.request(
        "PUT",
        f"/rest/pages/pages/{page_id}",
        json={"title": "Runbook 2", "body": second, "version": 1},
    )
    assert saved.status_code == 200, saved.text
    assert saved.json()["version"] == 2
    again = site.request("GET", f"/rest/pages/pages/{page_id}").json()
    assert (again["title"], again["body"], again["version"]) == ("Runbook 2", second, 2)

    versions = site.request("GET", f"/rest/pages/pages/{page_id}/versions")
    assert versions.status_code == 200, versions.text
    assert [v["version"] for v in versions.json()["versions"]] == [2, 1]
    assert [v["title"] for v in versions.json()["versions"]] == ["Runbook 2", "Runbook"]

    child = _page(site, "Child", HELLO, parent=page_id)
    tree = site.request("GET", "/rest/pages/spaces/ENG/tree")
    assert tree.status_code == 200, tree.text
    (node,) = [n for n in tree.json()["pages"] if n["id"] == page_id]
    assert [c["id"] for c in node["children"]] == [child["id"]]

    deleted = site.request("DELETE", f"/rest/pages/pages/{page_id}")
    assert deleted.status_code == 204, deleted.text
    _error(site.request("GET", f"/rest/pages/pages/{page_id}"), 404, "page_not_found")
    _error(site.request("GET", f"/rest/pages/pages/{child['id']}"), 404, "page_not_found")
    tree_ids = [n["id"] for n in site.request("GET", "/rest/pages/spaces/ENG/tree").json()["pages"]]
    assert page_id not in tree_ids


def test_a_save_of_an_old_version_is_a_conflict_and_loses_nothing(site: Site) -> None:
    page = _page(site, "Shared", HELLO)
    path = f"/rest/pages/pages/{page['id']}"
    first = site.request("PUT", path, json={"title": "A", "body": _doc(_para("a")), "version": 1})
    assert first.status_code == 200, first.text
    late = site.request("PUT", path, json={"title": "B", "body": _doc(_para("b")), "version": 1})
    _error(late, 409, "version_conflict")
    ahead = site.request("PUT", path, json={"title": "C", "body": _doc(_para("c")), "version": 7})
    _error(ahead, 409, "version_conflict")
    now = site.request("GET", path).json()
    assert (now["title"], now["version"]) == ("A", 2)
    versions = site.request("GET", f"{path}/versions").json()["versions"]
    assert [v["version"] for v in versions] == [2, 1]


def test_history_diff_and_restore(site: Site) -> None:
    page = _page(site, "Plan", _doc(_para("step one"), _para("step two")))
    path = f"/rest/pages/pages/{page['id']}"
    body2 = _doc(_para("step one"), _para("step 2, revised"))
    assert site.request("PUT", path, json={"title": "Plan", "body": body2, "version": 1}).is_success

    old = site.request("GET", f"{path}/versions/1")
    assert old.status_code == 200, old.text
    assert old.json()["body"] == page["body"]
    diff = site.request("GET", f"{path}/diff", params={"from": "1", "to": "2"})
    assert diff.status_code == 200, diff.text
    lines = diff.json()["diff"]
    assert "-step two" in lines and "+step 2, revised" in lines

    restored = site.request("POST", f"{path}/versions/1/restore", json={"version": 2})
    assert restored.status_code == 200, restored.text
    assert (restored.json()["version"], restored.json()["body"]) == (3, page["body"])
    stale = site.request("POST", f"{path}/versions/1/restore", json={"version": 2})
    _error(stale, 409, "version_conflict")
    _error(site.request("GET", f"{path}/versions/9"), 404, "version_not_found")


@pytest.mark.parametrize(
    ("body", "path", "reason"),
    [
        ("just a string", "$.body", "wrong_type"),
        ({"type": "doc"}, "$.body.content", "missing_field"),
        (_doc({"type": "script"}), "$.body.content[0].type", "unknown_type"),
        (
            _doc(_para("x"), {"type": "heading", "attrs": {"level": 7}}),
            "$.body.content[1].attrs.level",
            "out_of_range",
        ),
        (
            _doc(_para("x", [{"type": "link", "attrs": {"href": "javascript:alert(1)"}}])),
            "$.body.content[0].content[0].marks[0].attrs.href",
            "unsafe_link",
        ),
        (
            _doc(_para("x", [{"type": "link", "attrs": {"href": "data:text/html,<script>"}}])),
            "$.body.content[0].content[0].marks[0].attrs.href",
            "unsafe_link",
        ),
        (
            _doc({"type": "paragraph", "onclick": "alert(1)"}),
            "$.body.content[0].onclick",
            "unknown_field",
        ),
        (_doc(_para("a\u202eb")), "$.body.content[0].content[0].text", "bad_character"),
    ],
)
def test_a_bad_document_is_a_422_naming_where_and_why(
    site: Site, body: Any, path: str, reason: str
) -> None:
    made = site.request(
        "POST", "/rest/pages/pages", json={"space": "ENG", "title": "Bad", "body": body}
    )
    refused = _error(made, 422, "invalid_document")
    assert (refused["path"], refused["reason"]) == (path, reason)


def test_a_document_too_deep_is_refused_without_harm(site: Site) -> None:
    deep: dict[str, Any] = _para("x")
    for _ in range(40):
        deep = {"type": "blockquote", "content": [deep]}
    refused = _error(
        site.request(
            "POST", "/rest/pages/pages", json={"space": "ENG", "title": "Deep", "body": _doc(deep)}
        ),
        422,
        "invalid_document",
    )
    assert refused["reason"] == "too_deep"


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.seen: list[tuple[str, list[tuple[str, str | None]]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.seen.append((tag, attrs))


def test_hostile_text_is_rendered_harmless(site: Site) -> None:
    hostile = [
        "<script>alert(1)</script>",
        '<img src=x onerror="alert(1)">',
        "<svg onload=alert(1)><a xlink:href=javascript:alert(1)>",
        '"><iframe src=javascript:alert(1)>',
    ]
    body = _doc(
        *[
            _para(
                text,
                [
                    {
                        "type": "link",
                        "attrs": {"href": f"https://x.test/?q={text.replace(' ', '+')}"},
                    }
                ],
            )
            for text in hostile
        ],
        {
            "type": "codeBlock",
            "attrs": {"language": "html"},
            "content": [{"type": "text", "text": hostile[0]}],
        },
        {
            "type": "paragraph",
            "content": [{"type": "mention", "attrs": {"id": "acc1", "text": hostile[1]}}],
        },
    )
    page = _page(site, "<script>alert('title')</script>", body)
    html = site.request("GET", f"/rest/pages/pages/{page['id']}").json()["html"]
    parser = _Tags()
    parser.feed(html)
    for tag, attrs in parser.seen:
        assert tag in ALLOWED, html
        for name, value in attrs:
            assert name in ALLOWED[tag] and not name.startswith("on"), html
            if name == "href":
                assert (value or "").startswith("https://x.test/"), html
    assert "<script" not in html and "<img" not in html and "<svg" not in html


def test_search_finds_words_of_titles_and_text_but_not_the_trash(site: Site) -> None:
    page = _page(site, "Kubernetes upgrade", _doc(_para("drain the zeppelin nodes first")))
    found = site.request("GET", "/rest/pages/search", params={"q": "zeppelin"})
    assert found.status_code == 200, found.text
    assert [p["id"] for p in found.json()["pages"]] == [page["id"]]
    both = site.request("GET", "/rest/pages/search", params={"q": "KUBERNETES Zeppelin"}).json()
    assert [p["id"] for p in both["pages"]] == [page["id"]]
    none = site.request("GET", "/rest/pages/search", params={"q": "zeppelin absentword"}).json()
    assert none["pages"] == []

    assert site.request("DELETE", f"/rest/pages/pages/{page['id']}").status_code == 204
    assert site.request("GET", "/rest/pages/search", params={"q": "zeppelin"}).json()["pages"] == []
    items = site.request("GET", "/rest/pages/trash").json()["items"]
    assert page["id"] in [i["page_id"] for i in items]
    restored = site.request("POST", f"/rest/pages/trash/{page['id']}/restore")
    assert restored.status_code == 200, restored.text
    again = site.request("GET", "/rest/pages/search", params={"q": "zeppelin"}).json()
    assert [p["id"] for p in again["pages"]] == [page["id"]]


def test_roles_viewers_read_only_and_deletion_by_admin_or_creator(site: Site) -> None:
    page = _page(site, "Admin's page", HELLO)
    path = f"/rest/pages/pages/{page['id']}"
    _, viewer_email = add_account(site, "viewer")
    viewer = _as(site, token_for(site, viewer_email))
    assert viewer.request("GET", path).status_code == 200
    _error(viewer.request("DELETE", path), 403, "member_required")
    _error(
        viewer.request("PUT", path, json={"title": "x", "body": HELLO, "version": 1}),
        403,
        "member_required",
    )
    _error(
        viewer.request(
            "POST", "/rest/pages/pages", json={"space": "ENG", "title": "x", "body": HELLO}
        ),
        403,
        "member_required",
    )
    _, member_email = add_account(site, "member")
    member = _as(site, token_for(site, member_email))
    _error(member.request("DELETE", path), 403, "admin_or_author_required")
    own = _page(member, "Member's page", HELLO)
    assert member.request("DELETE", f"/rest/pages/pages/{own['id']}").status_code == 204
    assert site.request("GET", path).json()["version"] == 1


def test_another_site_never_sees_a_page(cloud: Cloud, site: Site) -> None:
    page = _page(site, "Secret plans", _doc(_para("launch quokka")))
    path = f"/rest/pages/pages/{page['id']}"
    other = signup(cloud, region="eu", prefix="pages-other")
    _error(other.request("GET", path), 404, "page_not_found")
    _error(
        other.request("PUT", path, json={"title": "x", "body": HELLO, "version": 1}),
        404,
        "page_not_found",
    )
    _error(other.request("DELETE", path), 404, "page_not_found")
    _error(other.request("GET", f"{path}/versions"), 404, "page_not_found")
    _error(other.request("GET", "/rest/pages/spaces/ENG/tree"), 404, "space_not_found")
    assert other.request("GET", "/rest/pages/search", params={"q": "quokka"}).json()["pages"] == []
    _error(
        other.request(
            "POST",
            "/rest/pages/pages",
            json={"space": "ENG", "title": "x", "body": HELLO, "parent": page["id"]},
        ),
        404,
        "space_not_found",
    )
    assert site.request("GET", path).json()["title"] == "Secret plans"


def test_titles_and_bodies_are_sealed_at_rest(cloud: Cloud, site: Site) -> None:
    _page(site, "Sealed title wombat", _doc(_para("sealed body numbat")))
    shard = shard_of(cloud, site.cloud_id)
    schema = "" if BACKEND == "sqlite" else "pages."
    for table in ("pages", "page_versions"):
        rows = stored_rows(
            cloud,
            shard,
            cloud.data_dir / "shards" / shard / "pages.sqlite",
            f"SELECT title, body FROM {schema}{table} WHERE tenant_id = :id",  # noqa: S608
            id=site.cloud_id,
        )
        assert rows
        for title, body in rows:
            assert b"wombat" not in bytes(title) and b"numbat" not in bytes(body)


def test_pages_move_in_the_tree_but_never_under_themselves(site: Site) -> None:
    site.request("POST", "/rest/pages/spaces", json={"key": "TREE", "name": "Tree"})

    def page(title: str, parent: str | None = None) -> str:
        body = {"space": "TREE", "title": title, "body": HELLO, "parent": parent}
        made = site.request("POST", "/rest/pages/pages", json=body)
        assert made.status_code == 201, made.text
        return str(made.json()["id"])

    a, b = page("A"), page("B")
    a1 = page("A1", a)

    def shape() -> list[Any]:
        def walk(nodes: list[dict[str, Any]]) -> list[Any]:
            return [(n["title"], walk(n["children"])) for n in nodes]

        return walk(site.request("GET", "/rest/pages/spaces/TREE/tree").json()["pages"])

    assert shape() == [("A", [("A1", [])]), ("B", [])]
    moved = site.request("POST", f"/rest/pages/pages/{b}/move", json={"parent": a, "position": 1})
    assert moved.status_code == 200, moved.text
    assert (moved.json()["parent"], moved.json()["version"]) == (a, 1)
    assert shape() == [("A", [("B", []), ("A1", [])])]
    loop = site.request("POST", f"/rest/pages/pages/{a}/move", json={"parent": a1})
    _error(loop, 422, "move_into_own_subtree")
    top = site.request("POST", f"/rest/pages/pages/{a1}/move", json={"parent": None})
    assert top.status_code == 200, top.text
    assert shape() == [("A", [("B", [])]), ("A1", [])]


def test_concurrent_saves_of_one_version_keep_exactly_one(site: Site) -> None:
    from concurrent.futures import ThreadPoolExecutor

    page = _page(site, "Contended", HELLO)
    path = f"/rest/pages/pages/{page['id']}"

    def save(n: int) -> int:
        body = {"title": f"writer {n}", "body": _doc(_para(f"by {n}")), "version": 1}
        return site.request("PUT", path, json=body).status_code

    with ThreadPoolExecutor(max_workers=6) as pool:
        answers = list(pool.map(save, range(6)))
    assert sorted(answers) == [200] + [409] * 5, answers
    now = site.request("GET", path).json()
    assert now["version"] == 2
    versions = site.request("GET", f"{path}/versions").json()["versions"]
    assert [v["version"] for v in versions] == [2, 1]
    assert versions[0]["title"] == now["title"]


def test_a_data_key_rotation_reseals_pages_and_every_version(cloud: Cloud) -> None:
    from tenantry.platform.crypto import key_version

    from .cloud import tenantry

    site = signup(cloud, region="eu", prefix="pages-rotate")
    assert site.request("POST", "/rest/pages/spaces", json={"key": "ENG", "name": "E"}).is_success
    page = _page(site, "Before rotation", _doc(_para("first words")))
    path = f"/rest/pages/pages/{page['id']}"
    body = {"title": "Still before", "body": _doc(_para("second words")), "version": 1}
    assert site.request("PUT", path, json=body).status_code == 200

    rotated = tenantry("keys", "rotate-data-key", site.name, "--data-dir", str(cloud.data_dir))
    assert rotated.returncode == 0, rotated.stdout + rotated.stderr
    assert "minimum version 2" in rotated.stdout, rotated.stdout

    shard = shard_of(cloud, site.cloud_id)
    schema = "" if BACKEND == "sqlite" else "pages."
    for table in ("pages", "page_versions"):
        rows = stored_rows(
            cloud,
            shard,
            cloud.data_dir / "shards" / shard / "pages.sqlite",
            f"SELECT title, body FROM {schema}{table} WHERE tenant_id = :id",  # noqa: S608
            id=site.cloud_id,
        )
        assert {key_version(bytes(cell)) for row in rows for cell in row} == {2}, table
    read = site.request("GET", path).json()
    assert (read["title"], read["version"]) == ("Still before", 2)
    first = site.request("GET", f"{path}/versions/1").json()
    assert first["body"] == _doc(_para("first words"))


def test_a_purged_deletion_is_gone_for_good_with_its_versions(cloud: Cloud, site: Site) -> None:
    parent = _page(site, "Purge me", _doc(_para("ocelot words")))
    child = _page(site, "And me", HELLO, parent=parent["id"])
    path = f"/rest/pages/pages/{parent['id']}"
    body = {"title": "Purge me", "body": _doc(_para("ocelot again")), "version": 1}
    assert site.request("PUT", path, json=body).status_code == 200
    assert site.request("DELETE", path).status_code == 204

    _, member_email = add_account(site, "member")
    member = _as(site, token_for(site, member_email))
    _error(member.request("DELETE", f"/rest/pages/trash/{parent['id']}"), 403, "admin_required")
    assert site.request("DELETE", f"/rest/pages/trash/{parent['id']}").status_code == 204
    _error(site.request("DELETE", f"/rest/pages/trash/{parent['id']}"), 404, "trash_item_not_found")
    restore = site.request("POST", f"/rest/pages/trash/{parent['id']}/restore")
    _error(restore, 404, "trash_item_not_found")
    items = site.request("GET", "/rest/pages/trash").json()["items"]
    assert parent["id"] not in [i["page_id"] for i in items]

    shard = shard_of(cloud, site.cloud_id)
    schema = "" if BACKEND == "sqlite" else "pages."
    for table, column in (("pages", "id"), ("page_versions", "page_id"), ("page_terms", "page_id")):
        left = stored_rows(
            cloud,
            shard,
            cloud.data_dir / "shards" / shard / "pages.sqlite",
            f"SELECT count(*) FROM {schema}{table} WHERE tenant_id = :id"  # noqa: S608
            f" AND {column} IN (:a, :b)",
            id=site.cloud_id,
            a=parent["id"],
            b=child["id"],
        )
        assert left[0][0] == 0, table
    # The deletion noted its site for the trash purge loop the pages process runs.
    noted = stored_rows(
        cloud,
        shard,
        cloud.data_dir / "shards" / shard / "pages.sqlite",
        f"SELECT count(*) FROM {schema}trash_tenants WHERE cloud_id = :id",  # noqa: S608
        id=site.cloud_id,
    )
    assert noted[0][0] == 1
