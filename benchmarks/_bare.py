"""The framework ceiling for benchmarks/load.py: a bare FastAPI endpoint that answers a small
JSON object, with no authentication, database, gate or crypto. Served by the same uvicorn, the
same number of workers and the same driver as privguard, so load.py's ratio says what
privguard's own work costs against what FastAPI and uvicorn cost anyway on this machine."""

from __future__ import annotations

from fastapi import FastAPI
from pydantic import BaseModel


class Pong(BaseModel):
    subject_id: str
    fields: dict[str, str]


app = FastAPI()


@app.get("/v1/subjects/{subject_id}", response_model=Pong)
def read(subject_id: str, purpose: str = "") -> Pong:
    return Pong(subject_id=subject_id, fields={"name": "张*", "mobile_phone": "138****5678"})
