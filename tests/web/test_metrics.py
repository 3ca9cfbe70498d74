"""GET /metrics: Prometheus text, what it counts, and who may read it (admins, loopback, allowed
networks, and never a request an undeclared proxy passed on), on both store backends."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from PIL import Image
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample
from starlette.testclient import TestClient

from tests.imaging.samples import encode
from tests.web.conftest import Site
from toolkit.app import create_app
from toolkit.assets import UploadedFile
from toolkit.portal import Portal
from toolkit.settings import Settings
from toolkit.store.instrumented import InstrumentedStore

INSTRUMENTS = {
    "toolkit_store_requests": "counter",
    "toolkit_store_request_seconds": "histogram",
    "toolkit_store_errors": "counter",
    "toolkit_refresh_seconds": "histogram",
    "toolkit_refresh_lag_seconds": "gauge",
    "toolkit_refresh_changes": "counter",
    "toolkit_records_held": "gauge",
    "toolkit_journal_position": "gauge",
    "toolkit_checkpoint_position": "gauge",
    "toolkit_cache_lookups": "counter",
    "toolkit_render_seconds": "histogram",
    "toolkit_request_seconds": "histogram",
    "toolkit_build_info": "gauge",
    "process_resident_memory_bytes": "gauge",
    "process_cpu_seconds": "counter",
}


def metered_portal(settings: Settings) -> Portal:
    portal = Portal(settings)
    assert isinstance(portal.store, InstrumentedStore)
    return portal


@pytest.fixture
def site(settings: Settings) -> Iterator[Site]:
    portal = metered_portal(settings)
    with TestClient(create_app(settings, portal=portal), base_url="http://testserver") as client:
        yield Site(portal, client)


def scrape(site: Site, address: str = "127.0.0.1") -> list[Sample]:
    response = site.browser(address).get("/metrics")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return [sample for family in text_string_to_metric_families(response.text) for sample in family.samples]


def value(samples: list[Sample], name: str, **labels: str) -> float:
    """The sum of the samples of that name whose labels include these."""
    return sum(s.value for s in samples if s.name == name and labels.items() <= s.labels.items())


def test_metrics_are_prometheus_text_with_every_instrument(site: Site) -> None:
    response = site.browser("127.0.0.1").get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=")
    assert response.headers["cache-control"] == "no-store"
    assert "set-cookie" not in response.headers
    families = {family.name: family for family in text_string_to_metric_families(response.text)}
    assert {name: families[name].type for name in INSTRUMENTS if name in families} == INSTRUMENTS
    assert all(family.documentation for family in families.values())
    import toolkit

    (build,) = families["toolkit_build_info"].samples
    assert build.labels == {"version": toolkit.__version__}
    assert value(families["process_resident_memory_bytes"].samples, "process_resident_memory_bytes") > 1e6


def test_store_requests_are_counted_by_operation(site: Site) -> None:
    before = scrape(site)
    assert value(before, "toolkit_store_requests_total", operation="list") >= 1  # loading the records
    health = site.browser().get("/api/v1/health")  # asks the store for one object's head
    assert health.status_code == 200
    after = scrape(site)
    heads = ("toolkit_store_requests_total", "toolkit_store_request_seconds_count")
    for name in heads:
        assert value(after, name, operation="head") >= value(before, name, operation="head") + 1
    assert value(after, "toolkit_store_request_seconds_sum", operation="head") > 0
    assert value(after, "toolkit_store_errors_total", error="unavailable") == 0


def test_request_latency_is_labelled_by_route_template_not_raw_path(site: Site) -> None:
    browser = site.browser()
    for secret in ("first-secret-abc", "second-secret-xyz"):
        browser.get(f"/link/{secret}")
    browser.get("/no/such/page/123")
    browser.request("BREW", "/link/third")
    samples = scrape(site)
    counts = [s for s in samples if s.name == "toolkit_request_seconds_count"]
    assert value(counts, "toolkit_request_seconds_count", route="/link/{secret}", method="GET") == 2
    assert value(counts, "toolkit_request_seconds_count", route="other", status="4xx") >= 1
    assert value(counts, "toolkit_request_seconds_count", route="/link/{secret}", method="other") == 1
    labels = {value for sample in counts for value in sample.labels.values()}
    assert not any("secret-" in label or "123" in label or "BREW" in label for label in labels)
    assert {sample.labels["status"] for sample in counts} <= {"2xx", "3xx", "4xx", "5xx"}


def test_admins_read_metrics_from_anywhere_and_others_do_not(site: Site) -> None:
    outside = "203.0.113.9"
    assert site.browser(outside).get("/metrics", headers=site.token_for("admin")).status_code == 200
    admin_session = site.client_for("admin")
    assert admin_session.get("/metrics").status_code == 200
    assert site.browser(outside).get("/metrics", headers=site.token_for("employee")).status_code == 403
    assert site.client_for("marketing").get("/metrics").status_code == 403
    assert site.client_for("employee").get("/metrics").status_code == 403
    # Not signed in: as if there were no such page (the test client's own address is "testclient").
    for address in ("testclient", outside):
        response = site.browser(address).get("/metrics", follow_redirects=False)
        assert response.status_code == 404 and "toolkit_" not in response.text
    bad_token = {"authorization": "Bearer not-a-token"}
    assert site.browser(outside).get("/metrics", headers=bad_token).status_code == 404


def test_loopback_and_allowed_networks_read_metrics_without_signing_in(site: Site) -> None:
    for address in ("127.0.0.1", "127.8.9.10", "::1", "::ffff:127.0.0.1"):
        assert site.browser(address).get("/metrics").status_code == 200, address
    assert site.browser("10.1.2.3").get("/metrics").status_code == 404
    site.portal.settings = replace(site.portal.settings, metrics_allow=("10.0.0.0/8", "192.0.2.7"))
    for address in ("10.1.2.3", "192.0.2.7"):
        assert site.browser(address).get("/metrics").status_code == 200, address
    assert site.browser("192.0.2.8").get("/metrics").status_code == 404
    # Only reads: an allowed address does not make other methods of the route usable.
    assert site.browser("127.0.0.1").post("/metrics").status_code in (404, 405)


def test_a_request_forwarded_by_a_proxy_is_judged_by_its_sender(site: Site) -> None:
    site.portal.settings = replace(site.portal.settings, metrics_allow=("10.0.0.0/8",))
    forwarded = {"x-forwarded-for": "10.1.2.3"}
    # A proxy on loopback that nobody declared: its requests are not taken for local ones.
    assert site.browser("127.0.0.1").get("/metrics", headers=forwarded).status_code == 404
    assert site.browser("127.0.0.1").get("/metrics", headers={"forwarded": "for=1.2.3.4"}).status_code == 404
    # A forged header from an allowed client only costs that client its access.
    assert site.browser("10.1.2.3").get("/metrics", headers={"x-real-ip": "10.1.2.3"}).status_code == 404
    site.portal.settings = replace(site.portal.settings, trusted_proxies=("127.0.0.1",))
    proxy = site.browser("127.0.0.1")
    assert proxy.get("/metrics", headers=forwarded).status_code == 200
    assert proxy.get("/metrics", headers={"x-forwarded-for": "203.0.113.9"}).status_code == 404
    # The sender forged the first hop; the trusted proxy appended the address it really saw.
    assert proxy.get("/metrics", headers={"x-forwarded-for": "10.1.2.3, 203.0.113.9"}).status_code == 404
    assert proxy.get("/metrics", headers={"x-forwarded-for": "nonsense"}).status_code == 404
    # From a trusted proxy without the header nobody knows who sent it.
    assert proxy.get("/metrics").status_code == 404


def test_metrics_answer_while_the_instance_is_still_starting(site: Site) -> None:
    site.portal.ready = False
    try:
        assert site.browser("127.0.0.1").get("/metrics").status_code == 200
        assert site.browser("203.0.113.9").get("/metrics", headers=site.token_for("admin")).status_code == 503
    finally:
        site.portal.ready = True


def test_two_instances_in_one_process_count_apart(site: Site, settings: Settings) -> None:
    other = metered_portal(replace(settings, instance_id="test-b"))
    assert other.metrics.registry is not site.portal.metrics.registry
    with TestClient(create_app(settings, portal=other), base_url="http://testserver") as second:
        second_local = TestClient(second.app, base_url="http://testserver", client=("127.0.0.1", 1))
        second_local.app_state.update(second.app_state)
        before = [
            s for f in text_string_to_metric_families(second_local.get("/metrics").text) for s in f.samples
        ]
        for _ in range(3):
            site.browser().get("/api/v1/health")
        after = [
            s for f in text_string_to_metric_families(second_local.get("/metrics").text) for s in f.samples
        ]
    route = {"route": "/api/v1/health"}
    assert value(scrape(site), "toolkit_request_seconds_count", **route) == 3
    assert value(before, "toolkit_request_seconds_count", **route) == 0
    assert value(after, "toolkit_request_seconds_count", **route) == 0


def test_an_uncached_render_is_timed_and_a_cached_one_is_not(site: Site, tmp_path: Path) -> None:
    data = encode(Image.new("RGB", (1600, 900), (128, 128, 128)), "JPEG", quality=90)
    digest = hashlib.sha256(data).hexdigest()
    path = tmp_path / "photo.jpg"
    path.write_bytes(data)
    portal = site.portal
    asset, _ = portal.assets.add_upload(
        UploadedFile(path, len(data), digest, "photo.jpg"), actor=None, title="Photo"
    )
    asset = portal.assets.update(asset.id, {"status": "approved"}, actor=None)
    registry = portal.renditions.metrics.registry
    assert registry.get_sample_value("toolkit_render_seconds_count") == 0
    portal.renditions.render(asset, "linkedin-square", "jpeg")
    portal.renditions.render(asset, "linkedin-square", "jpeg")
    assert registry.get_sample_value("toolkit_render_seconds_count") == 1
    assert (registry.get_sample_value("toolkit_render_seconds_sum") or 0) > 0


def test_metrics_allow_is_checked_when_the_settings_are_read() -> None:
    settings = Settings.from_env({"TOOLKIT_METRICS_ALLOW": " 10.0.0.0/8, 192.0.2.7 ,fd00::/8"})
    assert settings.metrics_allow == ("10.0.0.0/8", "192.0.2.7", "fd00::/8")
    assert Settings.from_env({}).metrics_allow == ()
    with pytest.raises(SystemExit, match=r"TOOLKIT_METRICS_ALLOW: 'intranet' is not an IP address"):
        Settings.from_env({"TOOLKIT_METRICS_ALLOW": "10.0.0.0/8,intranet"})
    with pytest.raises(SystemExit, match="TOOLKIT_METRICS_ALLOW"):
        Settings.from_env({"TOOLKIT_METRICS_ALLOW": "10.0.0.0/33"})
