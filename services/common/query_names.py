"""Unknown query parameters are an error, not ignored, on every route of a service app.

A parameter a route does not declare is refused with the 422 `VALIDATION_ERROR` a query model with
`extra="forbid"` gives (`errors: [{"loc": ["query", name], "type": "extra_forbidden", ...}]`), before the route's
other dependencies run (authentication, the idempotency key, the session) and before the body's fields are
validated: a misspelt or unsupported parameter (`POST /api/v1/flash-sales/{id}/orders?quantity=5`) must never look
accepted, and its refusal changes nothing.

`build_service_app` puts `QueryNames.dependency()` on the app, so FastAPI adds it to every route, those of
included routers too, and calls `QueryNames.learn(app.routes)` once the routers are in: each route's names are read
then from its dependency tree (plain query parameters and the fields of `Annotated[Model, Query()]` models, by the
names FastAPI reads: alias, validation aliases, the field name where the model populates by name). A dependency
rather than a route class, because the services' routers are plain `APIRouter`s and an app-level dependency reaches
them all without each opting in; the price is FastAPI's fixed cost of one more dependency per request (a request
without a query string checks nothing more).

A route that takes free-form query strings says so in its declaration: a query model with `extra="allow"`, or a
dependency on `any_query_parameter`. Routes that are not FastAPI operations (`/openapi.json`, mounted files) are
not checked.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from types import NoneType, UnionType
from typing import Any, Union, get_args, get_origin

from fastapi import Depends, Request
from fastapi.dependencies.models import Dependant
from fastapi.exceptions import RequestValidationError
from fastapi.params import Depends as DependsParam
from fastapi.routing import APIRoute, iter_route_contexts
from pydantic import AliasChoices, BaseModel
from pydantic.fields import FieldInfo
from starlette.routing import BaseRoute

#: The message and type pydantic gives an unknown field of a model with `extra="forbid"`, so both refusals read
#: the same.
EXTRA_FORBIDDEN_MSG = "Extra inputs are not permitted"
EXTRA_FORBIDDEN_TYPE = "extra_forbidden"

#: A route's accepted names; `None`: any name.
Names = frozenset[str] | None


async def any_query_parameter() -> None:
    """Depend on this (`dependencies=[Depends(any_query_parameter)]`) in a route that reads query parameters it
    cannot declare (`request.query_params`): its query string is not checked."""


def _query_model(annotation: Any) -> type[BaseModel] | None:
    """The model of `Annotated[Model, Query()]` or `Annotated[Model | None, Query()]`, as FastAPI unpacks it."""
    if get_origin(annotation) in (Union, UnionType):
        args = [arg for arg in get_args(annotation) if arg is not NoneType]
        if len(args) != 1:
            return None
        annotation = args[0]
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return None


def _field_names(name: str, info: FieldInfo, config: Mapping[str, Any]) -> set[str]:
    """The request keys FastAPI reads one field from."""
    if config.get("validate_by_alias") is False:
        return {name}
    alias = info.validation_alias
    if isinstance(alias, str):
        names = {alias}
    elif isinstance(alias, AliasChoices) and all(isinstance(choice, str) for choice in alias.choices):
        names = {choice for choice in alias.choices if isinstance(choice, str)}
    else:
        names = {info.alias or name}
    if config.get("validate_by_name", config.get("populate_by_name", False)):
        names.add(name)
    return names


def declared_query_names(dependant: Dependant) -> Names:
    """Every query parameter name a route's dependency tree reads; `None` when it takes any."""
    names: set[str] = set()
    pending = [dependant]
    while pending:
        current = pending.pop()
        if current.call is any_query_parameter:
            return None
        for field in current.query_params:
            model = _query_model(field.field_info.annotation)
            if model is None:
                names |= _field_names(field.name, field.field_info, {})
                continue
            if model.model_config.get("extra") == "allow":
                return None
            for name, info in model.model_fields.items():
                names |= _field_names(name, info, model.model_config)
        pending.extend(current.dependencies)
    return frozenset(names)


def _merged(first: Names, second: Names) -> Names:
    # A route included twice (two prefixes, two sets of router dependencies) is one object in the request's
    # scope: it accepts what either inclusion declares.
    if first is None or second is None:
        return None
    return first | second


class QueryNames:
    """Each route's accepted query parameter names, keyed by the route object the request's scope names."""

    def __init__(self) -> None:
        # By identity: Starlette routes compare by path and endpoint, so they are not hashable.
        self._by_route: dict[int, Names] = {}

    def learn(self, routes: Iterable[BaseRoute]) -> None:
        """Read the names of every operation, through included routers, with the dependencies each inclusion adds."""
        for context in iter_route_contexts(list(routes)):
            route = context.original_route
            if not isinstance(route, APIRoute):
                continue
            names = declared_query_names(context.dependant)
            key = id(route)
            self._by_route[key] = _merged(self._by_route[key], names) if key in self._by_route else names

    def of(self, route: APIRoute) -> Names:
        try:
            return self._by_route[id(route)]
        except KeyError:
            # A route added after `learn` (a test's extra route): read once, from its own declaration.
            names = self._by_route[id(route)] = declared_query_names(route.dependant)
            return names

    def dependency(self) -> DependsParam:
        """The app-level dependency that refuses unknown names."""

        async def refuse_unknown_query_parameters(request: Request) -> None:
            if not request.scope["query_string"]:
                return
            allowed = self.of(request.scope["route"])
            if allowed is None:
                return
            unknown = [name for name in request.query_params if name not in allowed]
            if unknown:
                raise RequestValidationError(
                    [
                        {"loc": ("query", name), "msg": EXTRA_FORBIDDEN_MSG, "type": EXTRA_FORBIDDEN_TYPE}
                        for name in unknown
                    ]
                )

        dependency: DependsParam = Depends(refuse_unknown_query_parameters)
        return dependency
