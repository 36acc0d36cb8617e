"""The HTTP API (``fer-studio serve``): the photo analysis as a service, on the ``[api]`` extra (FastAPI, uvicorn)."""
