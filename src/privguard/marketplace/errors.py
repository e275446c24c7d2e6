"""Marketplace errors; neither carries personal information."""

from __future__ import annotations

import uuid


class MarketplaceNotFound(LookupError):
    code = "not_found"


class MerchantNotFound(MarketplaceNotFound):
    code = "merchant_not_found"

    def __init__(self, merchant_id: uuid.UUID) -> None:
        super().__init__(f"no merchant {merchant_id}")


class TicketNotFound(MarketplaceNotFound):
    code = "ticket_not_found"

    def __init__(self, ticket_id: uuid.UUID) -> None:
        super().__init__(f"no ticket {ticket_id}")
