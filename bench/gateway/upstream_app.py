"""An orders-like stand-in for the gateway benchmark: one product resource with a declared response model.

Used until the real orders service is ready (`--upstream-app services.orders.app:create_app`).
"""

from __future__ import annotations

from fastapi import FastAPI
from pydantic import BaseModel


class Product(BaseModel):
    id: int
    name: str
    price_fen: int
    stock: int
    category: str | None = None
    image_url: str | None = None


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

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app
