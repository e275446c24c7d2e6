"""What an expired value may leave behind when its field says ``on_expiry: anonymise``.

PIPL Art. 73(4) calls information anonymised when it "cannot identify a specific natural person
and cannot be restored". So the retention run never keeps a coarser value *attached to the
customer*: it adds one to a count of the value's generalisation in a table with no subject id
(``anonymised_counts``: field, generalised value, month collected, count) and deletes the value.

Each generaliser is a pure function from a field's canonical value (as its validator returns
it) to one label from a small, fixed vocabulary: a decade, a one-degree grid cell, a category.
None of them can echo the input, so a label can never carry the value it came from. The catalog
names one per anonymised field; the loader checks that it accepts that field's validator.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any


class GeneraliseError(ValueError):
    """The value is not of the shape this generaliser takes (never carries the value)."""


@dataclass(frozen=True)
class Generaliser:
    name: str
    accepts: frozenset[str]  # validators whose canonical values it takes
    keeps: str  # what survives, in a few words (docs, loader messages)
    apply: Callable[[Any], str]


def birth_year_band(value: Any) -> str:
    """``1949-12-31`` -> ``1940-1949``: the decade of birth, enough for age statistics."""
    try:
        year = (value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value))).year
    except ValueError:
        raise GeneraliseError("birth_year_band takes an ISO date") from None
    start = year - year % 10
    return f"{start}-{start + 9}"


def location_grid_1deg(value: Any) -> str:
    """``{lat: 22.54, lon: 113.93}`` -> ``+22,+113``: the 1 x 1 degree cell (about 111 km
    north-south) whose south-west corner is given; a region, not a street or a district."""
    if not isinstance(value, Mapping) or set(value) != {"lat", "lon"}:
        raise GeneraliseError("location_grid_1deg takes {lat, lon}")
    lat, lon = float(value["lat"]), float(value["lon"])
    if not (math.isfinite(lat) and math.isfinite(lon)):
        raise GeneraliseError("location_grid_1deg takes finite coordinates")
    # The poles and the antimeridian fold into the last cell so the vocabulary stays fixed.
    cell_lat = min(math.floor(lat), 89)
    cell_lon = min(math.floor(lon), 179)
    return f"{cell_lat:+03d},{cell_lon:+04d}"


_IP_SCOPES = ("loopback", "link_local", "multicast", "unspecified", "reserved", "private")


def ip_category(value: Any) -> str:
    """``2001:db8::1`` -> ``ipv6:private``: the address family and scope; no prefix or host."""
    try:
        ip = ipaddress.ip_address(str(value))
    except ValueError:
        raise GeneraliseError("ip_category takes an IP address") from None
    scope = next((s for s in _IP_SCOPES if getattr(ip, f"is_{s}")), None)
    if scope is None:
        scope = "global" if ip.is_global else "other"
    return f"ipv{ip.version}:{scope}"


_UUID = re.compile(r"[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}")
_MAC = re.compile(r"[0-9A-Fa-f]{2}([:-])[0-9A-Fa-f]{2}(\1[0-9A-Fa-f]{2}){4}")
_ANDROID_ID = re.compile(r"[0-9A-Fa-f]{16}")
_IMEI = re.compile(r"[0-9]{15}")


def device_id_kind(value: Any) -> str:
    """A device identifier -> its kind (``uuid`` for IDFA/IDFV/OAID, ``mac``, ``android_id``,
    ``imei``, ``other``): which kinds of devices were seen, never which device."""
    text = str(value)
    for kind, pattern in (
        ("uuid", _UUID),
        ("mac", _MAC),
        ("android_id", _ANDROID_ID),
        ("imei", _IMEI),
    ):
        if pattern.fullmatch(text):
            return kind
    return "other"


GENERALISERS: dict[str, Generaliser] = {
    g.name: g
    for g in (
        Generaliser(
            "birth_year_band",
            frozenset({"date_of_birth", "date"}),
            "the decade of birth",
            birth_year_band,
        ),
        Generaliser(
            "location_grid_1deg",
            frozenset({"location"}),
            "the 1-degree grid cell (about 111 km)",
            location_grid_1deg,
        ),
        Generaliser(
            "ip_category",
            frozenset({"ip_address"}),
            "the address family and scope (e.g. ipv4:global)",
            ip_category,
        ),
        Generaliser(
            "device_id_kind",
            frozenset({"device_id"}),
            "the kind of identifier (uuid, mac, android_id, imei, other)",
            device_id_kind,
        ),
    )
}


def generalise(name: str, value: Any) -> str:
    return GENERALISERS[name].apply(value)
