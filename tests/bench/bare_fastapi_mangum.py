"""Cold-start baseline: FastAPI's own hello world behind Mangum, as a fresh project would write it.

Imported (never collected as a test) by ``test_cold_start.py`` in a fresh interpreter; every Crewhouse
handler module's import time is compared with this one's. Keep it the canonical hello world: no return
annotation, no response model, no settings, no Powertools.
"""

from fastapi import FastAPI
from mangum import Mangum

app = FastAPI()


@app.get("/")
async def root():
    return {"message": "Hello World"}


handler = Mangum(app)
