"""standardReceiptApplications rows read by the names of spec §3.1 ("Reading applications"), tolerantly:
the records parser, and the adapter's ``applications`` over HTTP against rows the sandbox never serves."""

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from paysync_dagster.lib.http import RetryPolicy
from paysync_dagster.lib.oracle.adapter import OracleAdapter
from paysync_dagster.lib.oracle.client import OracleFusionClient
from paysync_dagster.lib.oracle.records import parse_application
from paysync_dagster.lib.posting.erp import ErpReceipt, OutcomeUnknown
from paysync_dagster.sandbox.server import ServerThread
from paysync_dagster_tests.lib.posting.oracle_support import SETTINGS

RECEIPT = ErpReceipt("300100200000050", "PT-77", 15_000, "USD", "C1")


def row(**over: Any) -> dict[str, Any]:
    base = {"ApplicationId": 300100200000060, "StandardReceiptId": 300100200000050, "ReceiptNumber": "PT-77",
            "ApplicationAmount": 100, "EnteredCurrency": "USD", "ApplicationDate": "2026-03-05",
            "AccountingDate": "2026-03-05", "ApplicationStatus": "Applied", "ReferenceInstallmentId": 300100200000011,
            "ReferenceTransactionId": 300100200000010, "ReferenceTransactionNumber": "INV-000101"}
    base.update(over)
    return {k: v for k, v in base.items() if v is not None}


class ApplicationRows:
    """A Fusion pod that answers every customer-account read with one account and the
    standardReceiptApplications child with ``rows``: a real HTTP server serving answers the sandbox
    never gives (attributes missing or broken)."""

    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []
        self.app = Starlette(routes=[Route("/fscmRestApi/resources/{version}/{path:path}", self.answer)])

    async def answer(self, request: Request) -> JSONResponse:
        items = self.rows if request.path_params["path"].endswith("standardReceiptApplications") else \
            [{"AccountId": 300100200000001, "AccountNumber": "C1", "CustomerName": "Customer C1"}]
        return JSONResponse({"items": items, "count": len(items), "hasMore": False, "limit": 500, "offset": 0})


@pytest.fixture(scope="module")
def pod() -> Iterator[tuple[ApplicationRows, str]]:
    served = ApplicationRows()
    with ServerThread(served.app) as server:
        yield served, server.url


@pytest.fixture
def applications(pod: tuple[ApplicationRows, str]) -> Callable[[list[dict[str, Any]]], dict[str, int]]:
    served, url = pod

    def read(rows: list[dict[str, Any]]) -> dict[str, int]:
        served.rows = rows
        with OracleFusionClient(url, username="u", password="p", retry=RetryPolicy(max_attempts=1)) as client:
            return OracleAdapter(client, SETTINGS).applications(RECEIPT)

    return read


def test_a_row_is_read_by_the_resources_names() -> None:
    app = parse_application(row(ApplicationAmount="12.34", ReferenceInstallmentId="300100200000011"))
    assert (app.installment_id, app.amount_minor, app.currency, app.applied, app.transaction_number) == \
        ("300100200000011", 1_234, "USD", True, "INV-000101")
    assert parse_application(row(ReferenceInstallmentId=300100200000011.0)).installment_id == "300100200000011"
    assert parse_application(row(ApplicationStatus="Unapplied")).applied is False
    assert parse_application(row(ApplicationAmount=5, EnteredCurrency="JPY")).amount_minor == 5


def test_the_names_the_resource_does_not_have_are_not_read() -> None:
    old = {"ApplicationId": 1, "StandardReceiptId": 300100200000050, "InstallmentId": 300100200000011,
           "AppliedAmount": 100, "Currency": "USD", "ApplicationStatus": "Applied"}
    app = parse_application(old)
    assert (app.installment_id, app.amount_minor, app.currency) == (None, None, "USD")


def test_missing_or_broken_attributes_do_not_crash_the_parser() -> None:
    app = parse_application({})
    assert (app.application_id, app.installment_id, app.amount_minor, app.status, app.applied) == (None, None, None, None, None)
    assert parse_application(row(ApplicationAmount="1,2.3.4")).amount_minor is None
    assert parse_application(row(ApplicationAmount={"x": 1})).amount_minor is None


def test_the_adapter_sums_active_applications_by_installment(applications) -> None:  # noqa: ANN001
    rows = [row(), row(ApplicationId=2, ApplicationAmount="50.00"), row(ApplicationId=3, ApplicationStatus="Unapplied"),
            row(ApplicationId=4, ReferenceInstallmentId=300100200000012, ApplicationAmount=25.5),
            row(ApplicationId=5, StandardReceiptId=300100200000099, ApplicationAmount=999)]  # another receipt's
    assert applications(rows) == {"300100200000011": 15_000, "300100200000012": 2_550}


def test_an_unapplied_row_may_lack_its_installment(applications) -> None:  # noqa: ANN001
    assert applications([row(), row(ApplicationId=2, ApplicationStatus="Unapplied", ReferenceInstallmentId=None,
                                    ApplicationAmount=None)]) == {"300100200000011": 10_000}


@pytest.mark.parametrize("broken", [{"ReferenceInstallmentId": None}, {"ApplicationAmount": None},
                                    {"ApplicationAmount": "n/a"}, {"ApplicationStatus": None}],
                         ids=["no-installment", "no-amount", "bad-amount", "no-status"])
def test_an_applied_row_that_cannot_be_read_makes_the_answer_unreadable(applications, broken: dict[str, Any]) -> None:  # noqa: ANN001
    # Leaving the row out could make the poster apply the same cash again: it is an unknown outcome.
    with pytest.raises(OutcomeUnknown, match="unreadable applications of receipt PT-77: application 2"):
        applications([row(), row(ApplicationId=2, **broken)])
