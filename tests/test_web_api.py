"""The dashboard's JSON API: every endpoint answers what the Python API answers, and bad input is a
422 with a readable one-line message, never a 500."""

from __future__ import annotations

from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from optimizer.analyze import analyze
from optimizer.problem import problem_from_dict
from optimizer.web.app import create_app

PROBLEM = {"model": "Llama 3 8B", "quant": "Q4_K_M", "devices": ["RTX 4090"]}
JSON_LEAVES = (
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=9)
)
CLUSTER = {"model": "Llama 3 70B", "quant": "4-bit", "devices": [{"name": "Mac Studio M3 Ultra 96GB", "count": 2}]}


@pytest.fixture(scope="module")
def client() -> TestClient:
    return TestClient(create_app(), raise_server_exceptions=False)


def _assert_readable_422(resp, *fragments: str) -> None:  # type: ignore[no-untyped-def]
    assert resp.status_code == 422, resp.text
    message = resp.json()["error"]
    assert "\n" not in message and "Traceback" not in message
    for fragment in fragments:
        assert fragment.lower() in message.lower(), message


def test_index_and_static_assets_are_served_locally(client: TestClient) -> None:
    page = client.get("/")
    assert page.status_code == 200 and "mlba" in page.text
    assert "http://" not in page.text and "https://" not in page.text  # no CDN
    for asset in ("/static/app.js", "/static/style.css"):
        assert client.get(asset).status_code == 200


@pytest.mark.parametrize("section", ["devices", "models", "links", "quants", "runtimes"])
def test_catalog_sections(client: TestClient, section: str) -> None:
    rows = client.get(f"/api/catalog/{section}").json()
    assert len(rows) > 5 and all("id" in r and "name" in r for r in rows)


def test_catalog_search_filters_and_unknown_section_is_404(client: TestClient) -> None:
    rows = client.get("/api/catalog/devices", params={"search": "4090"}).json()
    assert rows and all("4090" in r["name"] for r in rows)
    resp = client.get("/api/catalog/gpus")
    assert resp.status_code == 404 and "devices" in resp.json()["error"]


def test_analyze_equals_the_python_api(client: TestClient) -> None:
    body = client.post("/api/analyze", json=CLUSTER).json()
    expected = analyze(problem_from_dict(CLUSTER, "test"))
    assert body["system"]["decode_tok_s"] == pytest.approx(expected.system.decode_tok_s)
    assert body["system"]["ttft_s"] == pytest.approx(expected.system.ttft_s)
    assert body["topology_svg"].startswith("<svg") or "<svg" in body["topology_svg"]


def test_analyze_single_device_has_no_topology(client: TestClient) -> None:
    body = client.post("/api/analyze", json=PROBLEM).json()
    assert body["topology_svg"] == "" and body["system"]["decode_tok_s"] > 0


def test_auto_returns_alternatives_and_a_choice(client: TestClient) -> None:
    body = client.post("/api/auto", json={"problem": CLUSTER, "objective": "decode"}).json()
    assert body["chosen"] in {a["strategy"] for a in body["alternatives"]}
    assert body["reasoning"]


def test_min_hardware_and_recommend(client: TestClient) -> None:
    ask = {"model": "Llama 3 8B", "quant": "Q4_K_M", "from_devices": ["RTX 4090", "RTX 3090"], "max_devices": 2}
    cheapest = client.post("/api/min-hardware", json={**ask, "target_decode": 60}).json()
    assert cheapest["feasible"] and cheapest["pareto"]
    best = client.post("/api/recommend", json={**ask, "budget_usd": 5000}).json()
    assert best["feasible"]


def test_share_round_trip(client: TestClient) -> None:
    code = client.post("/api/share", json=CLUSTER).json()["share"]
    back = client.get(f"/api/share/{code}").json()
    assert back["model"] == CLUSTER["model"]
    again = client.post("/api/analyze", json=back).json()
    direct = client.post("/api/analyze", json=CLUSTER).json()
    assert again["system"]["decode_tok_s"] == pytest.approx(direct["system"]["decode_tok_s"])


@pytest.mark.parametrize(
    ("path", "payload", "fragments"),
    [
        ("/api/analyze", {**PROBLEM, "model": "Lama 3 8B"}, ["did you mean"]),
        ("/api/analyze", {**PROBLEM, "devices": ["RTX 4099"]}, ["did you mean"]),
        ("/api/analyze", {**PROBLEM, "workload": {"prompt_tokens": -5}}, ["prompt_tokens"]),
        ("/api/analyze", {"model": "Llama 3 8B"}, ["quant"]),
        ("/api/analyze", [1, 2, 3], []),
        ("/api/auto", PROBLEM, ["problem"]),
        ("/api/auto", {"problem": PROBLEM, "objective": "vibes"}, ["objective"]),
        ("/api/min-hardware", {"model": "Llama 3 8B", "quant": "Q4_K_M"}, ["target"]),
        ("/api/recommend", {"model": "Llama 3 8B", "quant": "Q4_K_M", "colour": "red"}, ["colour"]),
        ("/api/share", {"quant": "Q4_K_M"}, ["model"]),
        ("/api/auto", {"problem": PROBLEM, "objective": {}}, ["objective"]),
    ],
)
def test_bad_input_is_a_readable_422(client: TestClient, path: str, payload: object, fragments: list[str]) -> None:
    _assert_readable_422(client.post(path, json=payload), *fragments)


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/api/min-hardware", b'{"model": "Llama 3 8B", "quant": "Q4_K_M", "target_decode": NaN}', "target_decode"),
        ("/api/recommend", b'{"model": "Llama 3 8B", "quant": "Q4_K_M", "budget_usd": Infinity}', "budget_usd"),
        ("/api/analyze", b'{"model": "Llama 3 8B", "quant": "Q4_K_M", "devices": ["RTX 4090"], '
         b'"cost": {"price_kwh": NaN}}', "price_kwh"),
    ],
)  # fmt: skip
def test_non_finite_numbers_are_rejected(client: TestClient, path: str, body: bytes, field: str) -> None:
    _assert_readable_422(client.post(path, content=body, headers={"content-type": "application/json"}), field)


def test_non_json_body_and_bad_share_string(client: TestClient) -> None:
    _assert_readable_422(client.post("/api/analyze", content=b"{not json"), "json")
    _assert_readable_422(client.post("/api/analyze", content=b"[" * 100_000 + b"]" * 100_000), "nested")
    _assert_readable_422(client.get("/api/share/not-a-share-string"))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    payload=st.recursive(
        JSON_LEAVES,
        lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3),
        max_leaves=8,
    )
)
def test_arbitrary_json_never_500(client: TestClient, payload: object) -> None:
    for path in ("/api/analyze", "/api/auto", "/api/share", "/api/min-hardware", "/api/recommend"):
        resp = client.post(path, json=payload)
        assert resp.status_code in (200, 422), (path, payload, resp.text)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(code=st.text(min_size=1, max_size=60))
def test_arbitrary_share_strings_never_500(client: TestClient, code: str) -> None:
    resp = client.get(f"/api/share/{quote(code, safe='')}")
    assert resp.status_code in (200, 404, 422), (code, resp.text)
