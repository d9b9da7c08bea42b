"""``imgclf serve``: a REST prediction service with dynamic micro-batching (FastAPI + uvicorn).

::

    from imgclf.serve import ServeSettings, create_app, serve
    app = create_app("runs/ants-bees", ServeSettings(api_key="s3cret"))  # an ASGI app, for any ASGI server
    serve("runs/ants-bees", ServeSettings(port=8000))                     # or run it under uvicorn
"""

from imgclf.serve.app import create_app
from imgclf.serve.batcher import BatchStats, MicroBatcher
from imgclf.serve.server import serve
from imgclf.serve.settings import API_KEY_ENV, RUNTIMES, ServeSettings

__all__ = ["API_KEY_ENV", "RUNTIMES", "BatchStats", "MicroBatcher", "ServeSettings", "create_app", "serve"]
