"""Fictional sample PI used across integration tests (not any real person's data)."""

from __future__ import annotations

from typing import Any

# Raw input as a customer or an integrator would send it, and what the vault stores.
RAW: dict[str, Any] = {
    "name": "欧阳娜娜",
    "mobile_phone": "+86 138-0013-8000",
    "landline": "010-62345678",
    "email": "ZhangSan@Example.com",
    "shipping_addresses": [
        {"province": "广东省", "city": "深圳市", "district": "南山区",
         "detail": "科技园路1号A栋1201室", "postal_code": "518057"}
    ],
    "resident_id": "11010519491231002x",
    "passport_number": "e12345678",
    "bank_card": "6222 0212 3456 7890 128",
    "payment_account": "zhangsan@example.com",
    "date_of_birth": "1949-12-31",
    "gender": "女",
    "device_id": "A1B2C3D4-E5F6-0718-293A-4B5C6D7E8F90",
    "ip_address": "2001:0db8:0000:0000:0000:0000:0000:0001",
    "precise_location": {"lat": 22.543096, "lon": 113.934539},
    "purchase_history": [{"order_id": "o-1", "item": "赣南脐橙 5kg", "amount": 59.9}],
    "browsing_history": [{"item": "蓝牙耳机", "at": "2026-11-01T10:00:00"}],
    "search_history": [{"query": "手机壳", "at": "2026-11-02T09:30:00"}],
}

CANONICAL: dict[str, Any] = {
    **RAW,
    "mobile_phone": "+8613800138000",
    "landline": "+861062345678",
    "email": "ZhangSan@example.com",
    "resident_id": "11010519491231002X",
    "passport_number": "E12345678",
    "bank_card": "6222021234567890128",
    "gender": "female",
    "device_id": "A1B2C3D4-E5F6-0718-293A-4B5C6D7E8F90",
    "ip_address": "2001:db8::1",
}

OTHER: dict[str, Any] = {
    "name": "李四",
    "mobile_phone": "13912345678",
    "email": "lisi@example.org",
    "resident_id": "110108199001011231",
}
