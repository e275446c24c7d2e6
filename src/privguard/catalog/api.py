"""GET /v1/catalog: the fields the vault holds, for integrators and the privacy notice."""

from __future__ import annotations

from fastapi import APIRouter

from privguard.api.deps import ActorDep, RuntimeDep
from privguard.catalog.schemas import FieldSpecOut, RetentionOut

router = APIRouter(prefix="/v1/catalog", tags=["catalog"])


@router.get("", response_model=list[FieldSpecOut], summary="List the catalog fields")
def list_fields(runtime: RuntimeDep, actor: ActorDep) -> list[FieldSpecOut]:
    """Each field's category (Fides key), sensitivity (PIPL Art. 28), validator, masking and
    retention rule."""
    return [
        FieldSpecOut(
            name=f.name,
            labels=dict(f.labels),
            category=f.category,
            sensitivity=f.sensitivity.value,
            validator=f.validator,
            masking=f.masking,
            waybill_masking=f.waybill_masking,
            retention=RetentionOut(
                keep_until=f.retention.keep_until.value,
                days=f.retention.days,
                basis=f.retention.basis,
                on_expiry=f.retention.on_expiry.value,
                generaliser=f.retention.generaliser,
            ),
            searchable=f.searchable,
            index_normalise=f.index_normalise,
        )
        for f in runtime.catalog
    ]
