"""HTTP routes for the policy: read it, and explain a hypothetical request."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query

from privguard.api.deps import ActorDep, RuntimeDep
from privguard.api.errors import ErrorResponse
from privguard.policy.explain import explain
from privguard.policy.rules import Action, Facts, Relationship, Role, View
from privguard.policy.schemas import ExplainOut, PolicyOut, PurposeOut, RuleOut, StepOut
from privguard.vault.errors import FieldError, InvalidPI, field_label

router = APIRouter(prefix="/v1/policy", tags=["policy"])

FactName = Literal[
    "self",
    "merchant_order",
    "assigned_shipment",
    "open_ticket",
    "own_merchant",
    "sharing_agreement",
    "consent",
]


@router.get(
    "/explain",
    response_model=ExplainOut,
    responses={401: {"model": ErrorResponse}, 422: {"model": ErrorResponse}},
    summary="Explain a decision",
)
def explain_request(
    runtime: RuntimeDep,
    _: ActorDep,
    role: Annotated[Role, Query(description="The role asking.")],
    purpose: Annotated[str, Query(description="The purpose stated.")],
    field: Annotated[str, Query(description="A catalog field, or `*` for list and erase.")],
    action: Annotated[
        Action, Query(description="read, lookup, list, register, update, erase")
    ] = Action.READ,
    view: Annotated[
        Literal["plain", "masked", "waybill"], Query(description="View asked for.")
    ] = "plain",
    facts: Annotated[
        list[FactName] | None,
        Query(
            description="Assume these hold (relationships, `consent`). Omit to see every way "
            "the request could go."
        ),
    ] = None,
) -> ExplainOut:
    """The rule chain the gate would walk for this role, action, purpose and field: each
    candidate rule in order, its conditions, and which one decides. Nothing is read."""
    if field != "*" and field not in runtime.catalog:
        raise InvalidPI(
            [FieldError(field_label(field), "catalog.unknown_field", "is not a catalog field")]
        )
    assumed = None
    if facts is not None:
        rels = frozenset(Relationship(f) for f in facts if f != "consent")
        consents = frozenset({purpose}) if "consent" in facts else frozenset()
        assumed = Facts(rels, consents)
    result = explain(runtime.policy, role, action, purpose, field, View(view), assumed)
    return ExplainOut(
        role=result.role.value,
        action=result.action.value,
        purpose=result.purpose,
        field=result.field,
        requested_view=result.requested.value,
        facts=sorted(facts) if facts is not None else None,
        chain=[
            StepOut(
                rule=s.rule,
                position=s.position,
                view=s.view.value,
                conditions=s.conditions,
                holds=s.holds,
                decides=s.decides,
                reason=s.reason,
            )
            for s in result.chain
        ],
        outcome=result.outcome,
        view=result.view.value if result.view is not None else None,
        rule=result.rule,
    )


@router.get(
    "",
    response_model=PolicyOut,
    responses={401: {"model": ErrorResponse}},
    summary="The access policy in force",
)
def policy_in_force(runtime: RuntimeDep, _: ActorDep) -> PolicyOut:
    """Roles, purposes (with their Fides data-use keys) and rules, in the order they are tried."""
    policy = runtime.policy
    return PolicyOut(
        source=policy.source,
        roles={r.value: spec.scope.value for r, spec in policy.roles.items()},
        purposes=[
            PurposeOut(name=p.name, fides=p.fides, necessary=p.necessary, label=dict(p.labels))
            for p in policy.purposes.values()
        ],
        rules=[
            RuleOut(
                id=r.id,
                roles=sorted(x.value for x in r.roles),
                actions=sorted(a.value for a in r.actions),
                purposes=sorted(r.purposes),
                fields=sorted(r.fields),
                view=r.view.value,
                conditions=r.when.describe(),
                reason=r.reason,
            )
            for r in policy.rules
        ],
    )
