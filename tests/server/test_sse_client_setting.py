"""``ZARIZ_SSE_CLIENT``: the deployment's default for how tabs hold the event stream (a
lazy mode chosen without touching each address), checked at start and written into the page as
``<meta name="zariz-sse">``, which the browser's ``zariz.sse.config`` reads."""

from __future__ import annotations

import pathlib

import pytest
from zariz.sse.config import StreamOptions, parse_options

from server.app import create_app
from server.config import ConfigError, Settings, parse_sse_client
from tests.server.app_client import AppClient


@pytest.mark.parametrize(
    ("raw", "words", "options"),
    [
        ("lazy", "lazy", StreamOptions(mode="lazy")),
        (" lazy, idle=10 ", "lazy idle=10", StreamOptions(mode="lazy", idle_close_s=10.0)),
        ("per-tab;always", "per-tab always", StreamOptions(sharing="per-tab")),
        ("shared lazy idle=0.5", "shared lazy idle=0.5",
         StreamOptions(mode="lazy", idle_close_s=0.5)),
        ("", "", StreamOptions()),
    ],
)
def test_accepted_values_mean_the_same_to_the_page(
    raw: str, words: str, options: StreamOptions
) -> None:
    assert parse_sse_client(raw) == words
    # What the server writes, the page reads as meant (the meta is its last source).
    assert parse_options(None, None, words) == options


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("lazzy", "unknown word 'lazzy'"),
        ("idle=0", "unknown word 'idle=0'"),
        ("idle=-3", "unknown word"),
        ("idle=3601", "unknown word"),
        ("idle=nan", "unknown word"),
        ("idle=", "unknown word"),
        ("lazy always", "contradict"),
        ("shared per-tab", "contradict"),
        ("idle=5 idle=6", "more than once"),
    ],
)
def test_a_typo_stops_the_server_with_a_clear_message(raw: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Settings.from_env({"ZARIZ_SSE_CLIENT": raw})
    with pytest.raises(ConfigError, match="ZARIZ_SSE_CLIENT"):
        Settings(sse_client=raw).validated()


def test_from_env_normalises_the_words() -> None:
    settings = Settings.from_env({"ZARIZ_SSE_CLIENT": "lazy,idle=30"}).validated()
    assert settings.sse_client == "lazy idle=30"
    assert Settings.from_env({}).validated().sse_client == ""


def _client(tmp_path: pathlib.Path, sse_client: str) -> AppClient:
    root = tmp_path / "root"
    root.mkdir()
    (root / "index.html").write_text(
        "<!doctype html><html><head><title>zariz</title></head><body></body></html>"
    )
    settings = Settings(db_path=tmp_path / "z.db", root=root, sse_client=sse_client)
    return AppClient(create_app(settings.validated()))


def test_the_page_carries_the_deployments_choice(tmp_path: pathlib.Path) -> None:
    client = _client(tmp_path, "lazy, idle=12")
    try:
        for path in ("/", "/dashboard/orders", "/dashboard/orders?boot=plain"):
            response = client.get(path)
            assert response.status_code == 200
            assert response.headers["cache-control"] == "no-cache"
            html = response.text
            assert '<meta name="zariz-sse" content="lazy idle=12"></head>' in html, html
            assert html.count("zariz-sse") == 1
    finally:
        client.close()


def test_no_setting_no_meta(tmp_path: pathlib.Path) -> None:
    client = _client(tmp_path, "")
    try:
        assert "zariz-sse" not in client.get("/dashboard").text
    finally:
        client.close()
