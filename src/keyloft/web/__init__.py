"""HTTP interface: the FastAPI app, thin routes, the v3 error envelope."""
