"""Customer tags filter segments and member lists; tables export as spreadsheets and the chart as a picture."""

from __future__ import annotations

import csv
import importlib
import io
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from matplotlib import image as mpimg

from services.common.exports import yuan
from services.common.testing import bearer
from tests.analytics.conftest import OPS, Feed, leader, local, ok
from tests.analytics.scenario import scripted_week

BOM = b"\xef\xbb\xbf"


@pytest.fixture
async def week(feed: Feed) -> Feed:
    await scripted_week(feed)
    return feed


async def make_tag(client: httpx.AsyncClient, code: str, name: str) -> Any:
    return ok(await client.post("/api/v1/customer-tags", json={"code": code, "name": name}, headers=OPS), 201)


async def test_ops_define_tags_and_put_them_on_and_off_customers(client: httpx.AsyncClient) -> None:
    created = await make_tag(client, "vip", "VIP")
    assert (created["code"], created["name"], created["created_by"]) == ("vip", "VIP", "ops1")
    again = await client.post("/api/v1/customer-tags", json={"code": "vip", "name": "Other"}, headers=OPS)
    assert again.status_code == 409 and again.json()["code"] == "TAG_EXISTS"
    await make_tag(client, "night-owl", "Orders after 22:00")
    listed = ok(await client.get("/api/v1/customer-tags", headers=leader("l1")))
    assert [t["code"] for t in listed["items"]] == ["night-owl", "vip"]

    tagged = ok(await client.put("/api/v1/customers/u1/tags/vip", headers=OPS))
    assert [t["tag"] for t in tagged["tags"]] == ["vip"]
    again_tagged = ok(await client.put("/api/v1/customers/u1/tags/vip", headers=OPS))
    assert again_tagged == tagged  # putting it on twice keeps the first
    assert (await client.delete("/api/v1/customers/u1/tags/vip", headers=OPS)).status_code == 204
    assert (await client.delete("/api/v1/customers/u1/tags/vip", headers=OPS)).status_code == 204
    assert ok(await client.get("/api/v1/customers/u1/tags", headers=OPS))["tags"] == []

    unknown = await client.put("/api/v1/customers/u1/tags/gold", headers=OPS)
    assert unknown.status_code == 404 and unknown.json()["code"] == "TAG_NOT_FOUND"


@pytest.mark.parametrize("body", [{"code": "VIP", "name": "x"}, {"code": "a b", "name": "x"}, {"code": "v", "name": ""},
                                  {"code": "v", "name": "x", "colour": "red"}])  # fmt: skip
async def test_tag_codes_are_short_lower_case_words(client: httpx.AsyncClient, body: dict[str, str]) -> None:
    assert (await client.post("/api/v1/customer-tags", json=body, headers=OPS)).status_code == 422


async def test_only_ops_manage_tags(client: httpx.AsyncClient) -> None:
    await make_tag(client, "vip", "VIP")
    for headers in (leader("l1"), bearer("m1", ["manager"]), bearer("u1", ["customer"])):
        assert (
            await client.post("/api/v1/customer-tags", json={"code": "x", "name": "x"}, headers=headers)
        ).status_code == 403
        assert (await client.put("/api/v1/customers/u1/tags/vip", headers=headers)).status_code == 403
        assert (await client.delete("/api/v1/customers/u1/tags/vip", headers=headers)).status_code == 403


async def test_a_tag_filters_segment_counts_and_member_lists(week: Feed, client: httpx.AsyncClient) -> None:
    await make_tag(client, "vip", "VIP")
    for customer in ("u2", "u5"):
        ok(await client.put(f"/api/v1/customers/{customer}/tags/vip", headers=OPS))
    counts = ok(await client.get("/api/v1/leaders/l1/community/segments?tag=vip", headers=leader("l1")))
    by_segment = {s["segment"]: s["members"] for s in counts["segments"]}
    # Default settings (new 7 days, dormant 30, churned 90): u5 is a member, new and active; u2 has left.
    # High value (top 20 % of u1, u5 by net sales = 1 person) is u1, who has no tag.
    assert by_segment == {"all": 1, "new": 1, "active": 1, "dormant": 0, "churned": 1, "high_value": 0}
    members = ok(await client.get("/api/v1/leaders/l1/community/segments/all/members?tag=vip", headers=leader("l1")))
    assert [(m["customer_id"], m["tags"]) for m in members["items"]] == [("u5", ["vip"])]
    everyone = ok(await client.get("/api/v1/leaders/l1/community/segments/all/members", headers=leader("l1")))
    assert [m["customer_id"] for m in everyone["items"]] == ["u1", "u5", "u3", "u4"]
    unknown = await client.get("/api/v1/leaders/l1/community/segments?tag=gold", headers=leader("l1"))
    assert unknown.status_code == 404


def read_csv(response: httpx.Response) -> list[dict[str, str]]:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.headers["content-disposition"].startswith('attachment; filename="')
    assert response.headers["content-disposition"].endswith('.csv"')
    assert response.content.startswith(BOM)  # Excel reads the encoding from it
    return list(csv.DictReader(io.StringIO(response.content[len(BOM) :].decode("utf-8"))))


async def test_stats_export_as_a_spreadsheet_with_yuan_beside_fen(week: Feed, client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/leaders/l1/community/stats?from=2025-03-03&to=2025-03-07&format=csv",
                                headers=leader("l1"))  # fmt: skip
    rows = read_csv(response)
    assert response.headers["content-disposition"] == (
        'attachment; filename="community-stats-l1-2025-03-03-2025-03-07.csv"'
    )
    header = list(rows[0])
    assert header[header.index("gmv_fen") + 1] == "gmv_yuan"
    assert header[header.index("net_sales_fen") + 1] == "net_sales_yuan"
    wednesday = rows[2]
    assert (wednesday["date"], wednesday["net_sales_fen"], wednesday["net_sales_yuan"]) == (
        "2025-03-05",
        "-1000",
        "-10.00",
    )
    assert rows[0]["gmv_yuan"] == "40.00" and rows[0]["members_total"] == "3"
    twin = await client.get(
        "/api/v1/leaders/l1/community/stats.csv?from=2025-03-03&to=2025-03-07", headers=leader("l1")
    )
    assert twin.content == response.content


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/leaders/l1/community/cohorts.csv",
        "/api/v1/leaders/l1/community/activity.csv",
        "/api/v1/leaders/l1/community/segments.csv",
        "/api/v1/leaders/l1/community/segments/all/members.csv",
        "/api/v1/analytics/overview.csv",
        "/api/v1/analytics/activity.csv",
        "/api/v1/analytics/leaders.csv",
        "/api/v1/analytics/alerts.csv",
        "/api/v1/analytics/flash-sales.csv",
    ],
)
async def test_every_table_exports_as_csv(week: Feed, client: httpx.AsyncClient, path: str) -> None:
    read_csv(await client.get(path, headers=OPS))
    same = await client.get(path.replace(".csv", ""), params={"format": "csv"}, headers=OPS)
    assert same.content.startswith(BOM)


async def test_member_list_export_holds_the_whole_segment_with_money_in_yuan(
    week: Feed, client: httpx.AsyncClient
) -> None:
    rows = read_csv(await client.get("/api/v1/leaders/l1/community/segments/all/members.csv?limit=1", headers=OPS))
    assert [(r["customer_id"], r["net_sales_fen"], r["net_sales_yuan"]) for r in rows] == [
        ("u1", "4000", "40.00"), ("u5", "1500", "15.00"), ("u3", "0", "0.00"), ("u4", "0", "0.00")
    ]  # fmt: skip


def test_yuan_is_formatted_from_integers() -> None:
    assert [yuan(v) for v in (0, 1, 99, 100, 123456, -1, -1050, 10**17 + 1)] == [
        "0.00", "0.01", "0.99", "1.00", "1234.56", "-0.01", "-10.50", "1000000000000000.01"
    ]  # fmt: skip


async def test_a_tag_that_looks_like_a_formula_is_not_run_by_the_spreadsheet(
    feed: Feed, client: httpx.AsyncClient
) -> None:
    await feed.leader_updated("l1", manager_id=None, at=feed_time())
    await feed.join("l1", "=HYPERLINK(1)", feed_time())
    rows = read_csv(await client.get("/api/v1/leaders/l1/community/segments/all/members.csv", headers=OPS))
    assert rows[0]["customer_id"] == "'=HYPERLINK(1)"


def feed_time() -> datetime:
    return local(2025, 3, 3)


async def test_the_chart_is_a_png_picture(week: Feed, client: httpx.AsyncClient, tmp_path: Path) -> None:
    response = await client.get("/api/v1/leaders/l1/community/chart.png?from=2025-02-20&to=2025-03-07",
                                headers=leader("l1"))  # fmt: skip
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "image/png"
    assert response.headers["content-disposition"] == 'attachment; filename="community-l1-2025-02-20-2025-03-07.png"'
    assert response.content.startswith(b"\x89PNG\r\n\x1a\n")
    picture = tmp_path / "chart.png"
    picture.write_bytes(response.content)
    pixels = mpimg.imread(picture)
    assert pixels.shape[:2] == (560, 1000)
    assert pixels.std() > 0.05  # something is drawn, not a blank canvas


# -- a generated client fetches the CSV and the PNG -----------------------------------------------------------------

PACKAGE = "gb_analytics_client"


@pytest.fixture
def importable(tmp_path: Path) -> Iterator[Path]:
    sys.path.insert(0, str(tmp_path))
    try:
        yield tmp_path
    finally:
        sys.path.remove(str(tmp_path))
        for name in [n for n in sys.modules if n == PACKAGE or n.startswith(PACKAGE + ".")]:
            del sys.modules[name]


def generate_client(document: dict[str, Any], where: Path) -> None:
    spec = where / "openapi.json"
    spec.write_text(json.dumps(document))
    config = where / "config.json"
    # openapi-python-client maps JSON, text/* and application/octet-stream; an image is bytes to it.
    config.write_text(json.dumps({"package_name_override": PACKAGE, "project_name_override": "gb-analytics",
                                  "content_type_overrides": {"image/png": "application/octet-stream"}}))  # fmt: skip
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    command = [sys.executable, "-m", "openapi_python_client", "generate", "--path", str(spec), "--meta", "none",
               "--output-path", str(where / PACKAGE), "--config", str(config)]  # fmt: skip
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=180, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Unsupported content_type" not in result.stdout + result.stderr


async def test_a_generated_python_client_fetches_the_csv_and_the_png(
    week: Feed, analytics_app: FastAPI, importable: Path
) -> None:
    generate_client(analytics_app.openapi(), importable)

    client_module = importlib.import_module(f"{PACKAGE}.client")
    client = client_module.AuthenticatedClient(
        base_url="http://analytics",
        token=bearer("l1", ["leader"])["Authorization"].removeprefix("Bearer "),
        httpx_args={"transport": httpx.ASGITransport(app=analytics_app)},
    )
    api = f"{PACKAGE}.api.community_analytics"
    stats = await importlib.import_module(f"{api}.analytics_community_stats").asyncio(
        leader_id="l1", from_=_date("2025-03-03"), to=_date("2025-03-07"), client=client
    )
    assert stats.net_sales_fen == 6500  # the JSON operation still parses into its model
    text = await importlib.import_module(f"{api}.analytics_community_stats_csv").asyncio(
        leader_id="l1", from_=_date("2025-03-03"), to=_date("2025-03-07"), client=client
    )
    assert isinstance(text, str) and text.startswith("\ufeffdate,members_total")
    picture = await importlib.import_module(f"{api}.analytics_community_chart").asyncio(leader_id="l1", client=client)
    assert picture.payload.read().startswith(b"\x89PNG")


def _date(value: str) -> date:
    return date.fromisoformat(value)
