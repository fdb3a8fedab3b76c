"""Per-user and per-tenant limits on the embedded cloud: one user's flood is answered 429 (with ``Retry-After``
and the ``RateLimit-*`` headers) while a user of another tenant is served as before, 2xx only and at about its
usual latency. The cloud's limits are lowered for this test only (``environment_overrides``): the local defaults
are out of any other test's reach."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from crewhouse.local.cloud import EmbeddedCloud
from crewhouse.local.lambda_runtime import environment_overrides
from crewhouse.local.seed import SignedInUser
from tests.integration.conftest import bearer

USER_RATE, USER_BURST = 2, 4  # a second; at once
FLOODERS, FLOOD_REQUESTS = 4, 12  # threads, requests each
PACE_SECONDS = 1.0  # the second user's calm pace: half its rate
SECOND_USER_CALLS = 6


@pytest.fixture
def low_limits(cloud: EmbeddedCloud) -> Iterator[None]:
    with environment_overrides({"RATE_LIMIT_USER_PER_SECOND": str(USER_RATE),
                                "RATE_LIMIT_USER_BURST": str(USER_BURST)}):
        yield


def timed_get(api: httpx.Client, token: str) -> tuple[httpx.Response, float]:
    started = time.perf_counter()
    response = api.get("/tasks", headers=bearer(token))
    return response, time.perf_counter() - started


def paced(api: httpx.Client, token: str, calls: int) -> list[tuple[httpx.Response, float]]:
    answers = []
    for _ in range(calls):
        answers.append(timed_get(api, token))
        time.sleep(PACE_SECONDS)
    return answers


def test_a_flood_from_one_user_is_refused_while_another_tenants_user_is_served_as_usual(
        cloud: EmbeddedCloud, new_user: Callable[[], SignedInUser], low_limits: None) -> None:
    flooder, calm = new_user(), new_user()  # each signs up into a tenant of their own
    with httpx.Client(base_url=cloud.api_url, timeout=30) as api:
        paced(api, calm.id_token, 1)  # warm: the function containers, the authorizer's cache
        baseline = paced(api, calm.id_token, SECOND_USER_CALLS)

        with ThreadPoolExecutor(FLOODERS + 1) as pool:
            during = pool.submit(paced, api, calm.id_token, SECOND_USER_CALLS)
            floods = [pool.submit(lambda: [timed_get(api, flooder.id_token)[0] for _ in range(FLOOD_REQUESTS)])
                      for _ in range(FLOODERS)]
            flood = [response for future in floods for response in future.result()]
            served_during = during.result()

        refused = [r for r in flood if r.status_code == 429]
        assert len(refused) >= len(flood) // 2, [r.status_code for r in flood]
        assert {r.status_code for r in flood} <= {200, 429}
        for response in refused:
            assert response.headers["content-type"] == "application/problem+json"
            assert response.json()["type"].endswith("/rate-limited")
            assert 1 <= int(response.headers["Retry-After"]) <= 1 + 1 // USER_RATE
            assert response.headers["RateLimit-Limit"] == str(USER_BURST)
            assert response.headers["RateLimit-Remaining"] == "0"
            assert int(response.headers["RateLimit-Reset"]) >= 1

        # The calm user of the other tenant: every answer 2xx with its budget, at about the usual latency.
        assert [r.status_code for r, _ in baseline + served_during] == [200] * (2 * SECOND_USER_CALLS)
        assert all(r.headers["RateLimit-Limit"] == str(USER_BURST) for r, _ in served_during)
        usual = statistics.median(seconds for _, seconds in baseline)
        flooded = statistics.median(seconds for _, seconds in served_during)
        # Generous: this machine runs the flood, the cloud and the calm user on the same cores.
        assert flooded <= max(4 * usual, usual + 1.0), (usual, flooded)

        # The flooder is served again once the Retry-After it was given has passed.
        time.sleep(int(refused[-1].headers["Retry-After"]) + 0.5)
        again, _ = timed_get(api, flooder.id_token)
        assert again.status_code == 200, again.text
        assert int(again.headers["RateLimit-Remaining"]) < USER_BURST
