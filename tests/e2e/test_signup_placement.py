"""A sign-up lands where its users are or where it pins itself, never where nobody chose."""

from __future__ import annotations

from typing import Any

import pytest

from .api import PASSWORD, unique_site
from .cloud import Cloud


def _signup(cloud: Cloud, site: str, **placement: Any) -> Any:
    body = {"site": site, "email": f"admin@{site}.test", "password": PASSWORD, **placement}
    return cloud.http("eu").post("/signup", json=body)


@pytest.mark.parametrize(
    ("users", "code"),
    [
        ({}, "no_expected_users"),
        ({"US": 0, "DE": 0}, "no_expected_users"),
        ({"ZZ": 40}, "unknown_country"),
        ({"DE": 40, "XX": 1}, "unknown_country"),
    ],
)
def test_placement_that_names_no_users_or_no_country_is_refused(
    cloud: Cloud, users: dict[str, int], code: str
) -> None:
    site = unique_site("placed")
    refused = _signup(cloud, site, users_by_country=users)
    assert refused.status_code == 422, refused.text
    assert refused.json()["error"] == code
    # Nothing was made: the same name signs up once the placement is clear.
    made = _signup(cloud, site, users_by_country={"DE": 1})
    assert made.status_code == 201, made.text
    assert made.json()["region"] == "eu"


@pytest.mark.parametrize("users", [{}, {"ZZ": 40}])
def test_a_pinned_region_places_the_site_whatever_the_counts(
    cloud: Cloud, users: dict[str, int]
) -> None:
    made = _signup(cloud, unique_site("pinned"), users_by_country=users, region="au")
    assert made.status_code == 201, made.text
    assert made.json()["region"] == "au"


def test_a_country_the_table_does_not_list_goes_to_the_default_region(cloud: Cloud) -> None:
    made = _signup(cloud, unique_site("unlisted"), users_by_country={"ZW": 12})
    assert made.status_code == 201, made.text
    assert made.json()["region"] == "us"


def test_a_sign_up_with_no_placement_at_all_is_refused(cloud: Cloud) -> None:
    refused = _signup(cloud, unique_site("nowhere"))
    assert refused.status_code == 422, refused.text
    assert refused.json()["error"] == "invalid_placement"
