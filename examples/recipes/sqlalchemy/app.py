"""The SQLAlchemy recipe end to end: two requests, a write outside any request, then history
and time travel read back. Runs against a database with bemi and the todo table:

    python3 app.py postgresql+psycopg2:///app comment        # or: ... transaction
"""
import json
import sys

from sqlalchemy import Boolean, Column, Integer, Text, create_engine, func, select, text, update
from sqlalchemy.orm import Session, declarative_base

import bemi_context

Base = declarative_base()


class Todo(Base):
    __tablename__ = "todo"
    id = Column(Integer, primary_key=True)
    task = Column(Text, nullable=False)
    is_completed = Column(Boolean, nullable=False, server_default=text("false"))


url, attach = sys.argv[1], sys.argv[2]
# One pooled connection: every request and the write after them share it.
engine = create_engine(url, pool_size=1, max_overflow=0)
if attach == "comment":
    bemi_context.comment_on_statements(engine)
else:
    bemi_context.set_in_transaction(Session)

with bemi_context.bound(user_id=187234, endpoint="/todo", method="POST", note="it's 100% \"done\" */ DROP TABLE todo; /* %s"):
    with Session(engine) as session, session.begin():
        session.add_all([Todo(task="Sleep"), Todo(task="Eat"), Todo(task="Repeat")])

with Session(engine) as session:
    between_requests = session.scalar(select(func.clock_timestamp()))

with bemi_context.bound(user_id=42, endpoint="/todo/bulk", method="PATCH"):
    with Session(engine) as session, session.begin():
        session.execute(update(Todo).where(Todo.id.in_([1, 2])).values(is_completed=True))
        session.delete(session.get(Todo, 3))

# Outside a request: no context.
with Session(engine) as session, session.begin():
    session.add(Todo(task="Code"))

with Session(engine) as session:
    session.execute(text("SELECT bemi.sync()"))  # wait until bemi has stored what we wrote

    history = session.execute(
        text("SELECT operation, diff, context->>'user_id' FROM bemi.history('todo', :key)"), {"key": "2"})
    for operation, diff, user_id in history:
        print(operation, json.dumps(diff, sort_keys=True), user_id)

    # ORM objects as they were; a fresh session, as its identity map would return loaded rows as they are now
    past = select(Todo).from_statement(text("SELECT * FROM bemi.as_of(NULL::todo, :at) ORDER BY id"))
with Session(engine) as session:
    for todo in session.scalars(past, {"at": between_requests}):
        print(todo.id, todo.task, todo.is_completed)
