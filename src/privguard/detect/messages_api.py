"""HTTP routes for order chats and notes: stored redacted, originals only for their owner."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from fastapi import APIRouter, status
from pydantic import BaseModel, ConfigDict, Field

from privguard.api.deps import ActorDep, RuntimeDep, transaction
from privguard.api.errors import ErrorResponse
from privguard.clock import utcnow

router = APIRouter(tags=["detect"])

ERRORS = {
    401: {"model": ErrorResponse, "description": "Missing, unknown or revoked API key."},
    403: {"model": ErrorResponse, "description": "Not yours to do; `rule` says why."},
    404: {"model": ErrorResponse, "description": "No such order (or not yours)."},
    422: {"model": ErrorResponse, "description": "Invalid input; `fields` names the rule."},
}


class MessageIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Literal["chat", "note"] = "chat"
    text: str = Field(max_length=4000, description="Personal information in it is redacted "
                      "before it is stored; the original is sealed for the consumer.")


class MessageOut(BaseModel):
    message_id: uuid.UUID
    kind: str
    author_role: str
    text: str = Field(description="Redacted (type tags), unless originals were asked for.")
    redacted: bool = Field(description="Whether `text` has pieces hidden.")
    found: list[str] = Field(description="The kinds of personal information hidden.")
    created_at: datetime


@router.post("/v1/orders/{order_id}/messages", status_code=status.HTTP_201_CREATED,
             response_model=MessageOut, responses=ERRORS, summary="Post a chat message or note")
def post_message(
    order_id: uuid.UUID, body: MessageIn, runtime: RuntimeDep, actor: ActorDep
) -> MessageOut:
    """The order's buyer, its merchant's staff, its courier or customer service write; what
    they type is scanned, and phone numbers, ID numbers, addresses and the like are replaced by
    their type before it is stored."""
    with transaction(runtime) as session:
        m = runtime.messages.post(session, actor, order_id, kind=body.kind, text=body.text,
                                  now=utcnow())
        return MessageOut(message_id=m.message_id, kind=m.kind, author_role=m.author_role,
                          text=m.redacted, redacted=bool(m.found), found=list(m.found),
                          created_at=m.created_at)


@router.get("/v1/orders/{order_id}/messages", response_model=list[MessageOut],
            responses=ERRORS, summary="An order's messages")
def read_messages(
    order_id: uuid.UUID,
    runtime: RuntimeDep,
    actor: ActorDep,
    originals: bool = False,
    purpose: str = "customer_support",
) -> list[MessageOut]:
    """Redacted for every party. `originals=true`: the consumer sees their own originals; the
    protection officer with `purpose=legal_obligation`; each such read is logged."""
    with transaction(runtime) as session:
        return [MessageOut(**m) for m in runtime.messages.read(
            session, actor, order_id, now=utcnow(), originals=originals, purpose=purpose)]
