from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class PublicKey(BaseModel):
    """One verification key (RFC 8037: an Ed25519 public key as an OKP JWK)."""

    kty: Literal["OKP"]
    crv: Literal["Ed25519"]
    x: str = Field(description="The public key, base64url")
    kid: str = Field(description="RFC 7638 thumbprint of the key; tokens name it in their header")
    alg: Literal["EdDSA"]
    use: Literal["sig"]


class KeySetDocument(BaseModel):
    keys: list[PublicKey]
