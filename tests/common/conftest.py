"""The whole stack behind the gateway (tests/e2e's fixtures), for the input tests that walk the merged OpenAPI
document."""

from tests.e2e.conftest import deliveries, e2e, e2e_gateway, service_apps, wiring  # noqa: F401 - fixtures
