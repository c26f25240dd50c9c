"""Where a request finds its node: the runtime on the app, and the services built on it.

Every dependency is ``async def``: none blocks, and FastAPI would run a plain ``def`` one in
its thread pool.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends
from starlette.requests import Request

from keyloft.runtime import Runtime
from keyloft.services.container import Services


def runtime_of(request: Request) -> Runtime:
    rt: Runtime = request.app.state.runtime
    return rt


def services_of(request: Request) -> Services:
    services: Services = request.app.state.runtime.services
    return services


async def _runtime(request: Request) -> Runtime:
    return runtime_of(request)


async def _services(request: Request) -> Services:
    return services_of(request)


RuntimeDep = Annotated[Runtime, Depends(_runtime)]
ServicesDep = Annotated[Services, Depends(_services)]
