"""GET /api/v1/reporting/double-counting: slots that may count the same people each month
(DOMAIN.md, "Cumulative figures", last paragraph)."""

from typing import Any

from tests.factories import assert_problem, line, sitrep


def _month(month: int, *lines: dict[str, Any], country: str = "SDN") -> dict[str, Any]:
    return sitrep(*lines, country=country, start=f"2024-{month:02d}-01", end=f"2024-{month:02d}-28")


def test_a_slot_reported_monthly_with_new_equal_to_reached_is_flagged_with_its_reach(api) -> None:
    field = api("field", countries=["SDN", "TCD"])
    for month in (1, 2, 3):
        body = _month(
            month,
            # restated every month: flagged (new absent the first time, = reached after)
            line(
                "wash",
                admin1="SD01",
                reached=1000,
                **({"people_reached_new": 1000} if month > 1 else {}),
            ),
            # one month says only part is new: not flagged
            line("shelter", admin1="SD01", reached=500, new=500 if month != 2 else 100),
            # cumulative: its new reach is derived, never flagged
            line("health", admin1="SD01", reached=300, people_reached_cumulative=300 * month),
        )
        response = field.post("/api/v1/sitreps", json=body)
        assert response.status_code == 201, response.text
    # reported once: not flagged
    assert (
        field.post(
            "/api/v1/sitreps", json=_month(1, line("cash", admin1="SD02", reached=700))
        ).status_code
        == 201
    )
    # a withdrawn period does not count: two live ones remain, still flagged
    ids = [
        field.post(
            "/api/v1/sitreps", json=_month(m, line("cccm", admin1="SD03", reached=50))
        ).json()["id"]
        for m in (4, 5, 6)
    ]
    withdrawn = field.request(
        "DELETE",
        f"/api/v1/sitreps/{ids[0]}",
        json={"reason": "duplicate"},
        headers={"If-Match": "*"},
    )
    assert withdrawn.status_code == 200, withdrawn.text
    # another country with only a cumulative chain: no entry at all
    assert (
        field.post(
            "/api/v1/sitreps", json=_month(1, line("wash", admin1=None, reached=10), country="TCD")
        ).status_code
        == 201
    )

    hq = api("hq")
    answer = hq.get("/api/v1/reporting/double-counting", params={"year": 2024}).json()
    total = hq.get("/api/v1/totals", params={"country": "SDN", "year": 2024}).json()["rows"][0]
    sdn = answer["countries"][0]
    assert answer["year"] == 2024
    assert [c["country"] for c in answer["countries"]] == ["SDN"]
    assert sdn["people_reached"] == total["people_reached"]
    assert [
        (s["sector"], s["admin1"], s["periods"], s["people_reached"]) for s in sdn["slots"]
    ] == [
        ("wash", "SD01", 3, 3000),
        ("cccm", "SD03", 2, 100),
    ]
    assert sdn["flagged_reach"] == 3100
    assert sdn["share"] == round(3100 / total["people_reached"], 4)
    assert sdn["slots"][0]["share"] == round(3000 / total["people_reached"], 4)
    assert sdn["slots"][0] | {"share": None} == {
        "sector": "wash",
        "division": "hod",
        "phase": "response",
        "crisis_id": None,
        "admin1": "SD01",
        "admin2": None,
        "periods": 3,
        "people_reached": 3000,
        "share": None,
    }

    # The default year is the latest with sitreps; a country filter narrows.
    assert hq.get("/api/v1/reporting/double-counting").json() == answer
    only_tcd = hq.get("/api/v1/reporting/double-counting", params={"year": 2024, "country": "TCD"})
    assert only_tcd.json()["countries"] == []


def test_field_officers_see_their_countries_and_bad_input_is_a_problem(api) -> None:
    sudan = api("field", countries=["SDN"])
    for month in (1, 2):
        assert sudan.post("/api/v1/sitreps", json=_month(month, line("wash"))).status_code == 201
    chad = api("field", countries=["TCD"])
    assert (
        chad.get("/api/v1/reporting/double-counting", params={"year": 2024}).json()["countries"]
        == []
    )
    assert [
        c["country"]
        for c in sudan.get("/api/v1/reporting/double-counting", params={"year": 2024}).json()[
            "countries"
        ]
    ] == ["SDN"]
    problem = assert_problem(
        chad.get("/api/v1/reporting/double-counting", params={"country": "SDN"}), 403
    )
    assert "SDN" in problem["detail"]
    problem = assert_problem(
        sudan.get("/api/v1/reporting/double-counting", params={"year": "last"}), 422
    )
    assert any("year" in str(e["loc"]) for e in problem["errors"])
    coordinator = api("coordinator", clusters=["wash"])
    assert_problem(coordinator.get("/api/v1/reporting/double-counting"), 403)
