"""The HTTP-stack ceiling: a hello-world JSON app on Keyloft's own stack.

FastAPI on uvicorn, started with the server options ``keyloft serve`` uses
(``keyloft.web.server.SERVER_OPTIONS``: its HTTP protocol, no access log, no proxy headers, no
server header; uvloop when installed, as there), so the difference between a Keyloft figure
and this one is what Keyloft itself costs per request.

    .venv/bin/python bench/hello_app.py --port 8100 --workers 2
    GET /hello -> {"hello":"world"}    POST /hello {"name": "x"} -> {"hello":"x"}
"""

from __future__ import annotations

import argparse
from pathlib import Path

from fastapi import FastAPI
from pydantic import BaseModel

app = FastAPI()


class Greeting(BaseModel):
    name: str


@app.get("/hello")
async def hello() -> dict[str, str]:
    return {"hello": "world"}


@app.post("/hello")
async def hello_post(body: Greeting) -> dict[str, str]:
    return {"hello": body.name}


def main() -> None:
    import uvicorn

    from keyloft.web.server import SERVER_OPTIONS

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8100)
    parser.add_argument("--workers", type=int, default=2)
    options = parser.parse_args()
    uvicorn.run(
        "hello_app:app",
        app_dir=str(Path(__file__).resolve().parent),
        host=options.host,
        port=options.port,
        workers=options.workers,
        log_level="warning",
        **SERVER_OPTIONS,
    )


if __name__ == "__main__":
    main()
