#!/usr/bin/env python3
"""Writes order-10k.json: the deterministic ~10 KB order used by benches/three_checks.rs and by
the gateway scenario in bench/run.sh. Nested objects, an array of line items, numbers, booleans,
nulls, non-ASCII text, escapes, and prose of the kind that trips naive filters ("select",
"drop", "or", "from", apostrophes, parentheses, semicolons). Run it again after editing it;
the output must stay valid against orders-openapi.yaml (the bench asserts that)."""

import json
from pathlib import Path

PRODUCTS = [
    ("Espresso cups (set of 4)", "Porcelain cups; dishwasher-safe. Select the blue or the green glaze when you order.", ["kitchen", "gift"]),
    ("Linen apron", "Stonewashed linen with two front pockets — it's the one from the spring catalogue.", ["kitchen"]),
    ("Cast-iron pan 28 cm", "Pre-seasoned. Don't drop it on tiled floors; use a wooden spoon and dry it at once.", ["kitchen", "heavy"]),
    ("Notebook \"Field\" A5", "120 pages, dotted grid, lay-flat binding (stitched), from recycled paper and cotton.", ["office"]),
    ("Desk lamp", "Warm light 2700 K, dimmable and USB-C powered; choose oak or walnut for the base.", ["office", "fragile"]),
    ("Wool throw", "Merino wool from Zürich mills, 130 × 170 cm. Hand wash at 30 °C or dry clean only.", ["home"]),
    ("Tea sampler", "Six loose-leaf teas: sencha, oolong, Earl Grey & two rooibos blends, plus one chai.", ["food", "gift"]),
    ("Plant pot, small", "Terracotta with drainage hole and saucer; fits herbs such as basil, mint or thyme.", ["garden"]),
]

NOTES = (
    "Hi! Please leave the parcel with the concierge (Mr. O'Neill) if nobody answers; "
    "the door code is on the intercom. If the lamp is out of stock, drop it from the order "
    "and refund me, or send the walnut one instead. Thanks a lot — Zoë."
)


CITIES = ["Lyon", "Leipzig", "Porto", "Gent", "Torino"]


def item(i: int) -> dict:
    name, desc, tags = PRODUCTS[i % len(PRODUCTS)]
    # Every description differs, so nothing is inspected twice in one request.
    desc = f"{desc} Ships in {2 + i % 5} days from our {CITIES[i % 5]} warehouse (ref. {7100 + i * 13})."
    return {
        "line": i + 1,
        "sku": f"SKU-{1000 + i * 37:05d}",
        "name": name,
        "description": desc,
        "quantity": i % 4 + 1,
        "unit_price": round(4.5 + (i * 7.31) % 90, 2),
        "currency": "EUR",
        "discount": None if i % 3 else {"code": f"SPRING{10 + i}", "percent": 10},
        "gift_wrap": i % 5 == 0,
        "tags": tags,
        "attributes": {"colour": ["blue", "green", "oak", "walnut"][i % 4], "size": "M", "weight_g": 150 + i * 45},
    }


def order(n_items: int) -> dict:
    return {
        "order_id": "ord_8f3a9c2e71b4",
        "created_at": "2026-11-23T16:33:44Z",
        "channel": "web",
        "customer": {
            "id": 48213,
            "name": "Zoë O'Brien",
            "email": "zoe.obrien@example.com",
            "phone": "+33 1 42 68 53 00",
            "loyalty_tier": "gold",
            "marketing_opt_in": False,
        },
        "shipping": {
            "address": {
                "line1": "12 Rue de l'Église",
                "line2": "Bâtiment B, 3e étage",
                "city": "Paris",
                "postcode": "75004",
                "country": "FR",
            },
            "method": "express",
            "window": {"from": "2026-11-25T09:00:00Z", "to": "2026-11-25T13:00:00Z"},
            "instructions": NOTES,
        },
        "items": [item(i) for i in range(n_items)],
        "payment": {"method": "card", "card_last4": "4242", "amount": 1234.56, "currency": "EUR"},
        "notes": "Gift message: \"Happy birthday, Sam!\" — see https://example.com/cards/42?style=plain",
        "metadata": {"campaign": "spring-sale", "ab_group": "B", "referrer": "newsletter"},
    }


def main() -> None:
    out = Path(__file__).with_name("order-10k.json")
    n = 1
    while len(json.dumps(order(n + 1), ensure_ascii=False, separators=(",", ":")).encode()) <= 10_240:
        n += 1
    text = json.dumps(order(n), ensure_ascii=False, separators=(",", ":"))
    out.write_text(text, encoding="utf-8")
    print(f"{out.name}: {len(text.encode())} bytes, {n} items")


if __name__ == "__main__":
    main()
