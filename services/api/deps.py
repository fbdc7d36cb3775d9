"""The API's one way to reach the database: a session per request, as a FastAPI dependency.

Routes that touch SQL are plain ``def`` functions taking ``session: DbSession``; FastAPI runs
them (and this dependency) on its thread pool, so blocking SQL never stalls the event loop. The
session commits right after the route returns (``scope="function"``: before the response is
sent, so a failed commit is the client's 500, not a silent loss) and rolls back on error.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends
from sqlalchemy.orm import Session

from shared.db.session import session_scope

from .state import State


def db_session(state: State) -> Iterator[Session]:
    with session_scope(state.settings.effective_database_url) as session:
        yield session


DbSession = Annotated[Session, Depends(db_session, scope="function")]
