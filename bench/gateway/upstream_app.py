"""An orders-like stand-in for the gateway benchmark: one product resource with a declared response model, and a
flash-sale purchase (POST with a small JSON body, validated, 201) answered from memory.

It answers from memory so the gateway's own cost is what the ratio shows; the real orders service is measured
with `--upstream-app services.orders.app:create_app --seed-product`.
"""

from __future__ import annotations

import itertools

from fastapi import FastAPI
from pydantic import BaseModel, Field


class Product(BaseModel):
    id: int
    name: str
    price_fen: int
    stock: int
    category: str | None = None
    image_url: str | None = None


class Purchase(BaseModel):
    leader_id: str = Field(min_length=1, max_length=64)
    quantity: int = Field(ge=1, le=10)


class FlashOrder(BaseModel):
    id: int
    sale_id: int
    leader_id: str
    quantity: int
    total_fen: int
    status: str = "pending_payment"


def create_app() -> FastAPI:
    app = FastAPI(title="orders stand-in")
    products = {
        1: Product(
            id=1,
            name="Fuji apples 5 kg",
            price_fen=2990,
            stock=120,
            category="fruit",
            image_url="https://img.example/apples.jpg",
        ),
    }

    @app.get("/api/v1/products/{product_id}")
    async def get_product(product_id: int) -> Product:
        return products.get(product_id) or Product(id=product_id, name="pears", price_fen=990, stock=0)

    order_ids = itertools.count(1)

    @app.post("/api/v1/flash-sales/{sale_id}/orders", status_code=201)
    async def buy(sale_id: int, body: Purchase) -> FlashOrder:
        return FlashOrder(
            id=next(order_ids), sale_id=sale_id, leader_id=body.leader_id, quantity=body.quantity, total_fen=990
        )

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app
