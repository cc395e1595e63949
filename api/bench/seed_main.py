"""The challenge's app, kept as the benchmark baseline: HTTPBasic dependency + compare_digest."""

import os
import secrets

from fastapi import Depends, FastAPI, HTTPException, status
from fastapi.security import HTTPBasic, HTTPBasicCredentials

app = FastAPI()
security = HTTPBasic()


def authenticate(credentials: HTTPBasicCredentials = Depends(security)) -> str:  # noqa: B008
    user_ok = secrets.compare_digest(credentials.username, os.environ["ADMIN_USER"])
    pass_ok = secrets.compare_digest(credentials.password, os.environ["ADMIN_PASS"])
    if not (user_ok and pass_ok):
        raise HTTPException(
            status_code=status.HTTP_401_UNAUTHORIZED,
            detail="Usuário ou senha estão incorretos",
            headers={"WWW-Authenticate": "Basic"},
        )
    return credentials.username


@app.get("/")
def read_root(username: str = Depends(authenticate)) -> dict[str, str]:
    return {"message": "Olá candidato, seja bem vindo ao Vars!", "username": username}
