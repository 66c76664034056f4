"""The sender side of an order interface: posts orders to the CPI iFlow ``/http/orders``.

This is the code under test. It knows nothing of cpimock: give it the tenant's base URL and the
files of a service key, exactly as in production with a real tenant.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import requests

MPL_HEADER = "SAP_MessageProcessingLogID"


class OrderRejected(Exception):
    """The tenant answered with an error; ``status`` and ``mpl_id`` say which and where to look."""

    def __init__(self, status: int, text: str, mpl_id: str | None) -> None:
        super().__init__(f"{status}: {text.strip()[:200]}")
        self.status = status
        self.mpl_id = mpl_id


@dataclass(frozen=True)
class Confirmation:
    order_id: str
    mpl_id: str | None
    answer: dict[str, Any]


class OrdersClient:
    """Posts orders with a client certificate (``cert=(cert.pem, key.key)``) or Basic credentials."""

    def __init__(
        self,
        base_url: str,
        *,
        cert: tuple[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        verify: str | bool = True,
        timeout_s: float = 30.0,
    ) -> None:
        self.url = base_url.rstrip("/") + "/http/orders"
        self.session = requests.Session()
        self.session.cert = cert
        self.session.auth = auth
        # per request, not as session.verify: requests lets REQUESTS_CA_BUNDLE override the session's
        self.verify = verify
        self.timeout_s = timeout_s

    def close(self) -> None:
        self.session.close()

    def __enter__(self) -> OrdersClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def send_order(self, order_id: str, items: list[dict[str, Any]]) -> Confirmation:
        response = self.session.post(
            self.url,
            json={"orderId": order_id, "items": items},
            headers={"SAP_ApplicationID": order_id},
            timeout=self.timeout_s,
            verify=self.verify,
        )
        mpl_id = response.headers.get(MPL_HEADER)
        if response.status_code != 200:
            raise OrderRejected(response.status_code, response.text, mpl_id)
        return Confirmation(order_id, mpl_id, response.json())
