"""Ids made on the request path: the shapes they promise, and no two workers making the same ones."""

from __future__ import annotations

import os
import uuid

from hypothesis import given, settings
from hypothesis import strategies as st

from cpimock import ids
from cpimock.http.response_headers import correlation_id
from cpimock.mpl.record import new_message_guid, new_transaction_id


@settings(max_examples=50)
@given(st.integers(min_value=0, max_value=2**32 - 1))
def test_a_random_uuid_is_a_version_4_uuid_in_its_text_form(seed: int) -> None:
    ids._random.seed(seed)
    for _ in range(20):
        text = ids.random_uuid()
        parsed = uuid.UUID(text)
        assert parsed.version == 4
        assert parsed.variant == uuid.RFC_4122
        assert str(parsed) == text  # lower case, dashes where uuid puts them


def test_random_uuids_do_not_repeat() -> None:
    made = {ids.random_uuid() for _ in range(10_000)}
    assert len(made) == 10_000


def test_an_answer_without_a_plain_correlation_id_gets_a_new_uuid() -> None:
    assert correlation_id("ticket-4711") == "ticket-4711"
    for sent in (None, "", "a\r\nSet-Cookie: x", "x" * 129):
        made = correlation_id(sent)
        assert uuid.UUID(made).version == 4
        assert made != sent


def _ids_of_a_child() -> tuple[str, ...]:
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its ids, then out without running the parent's exit handlers
        os.close(read)
        os.write(write, " ".join((ids.random_uuid(), new_message_guid(), new_transaction_id())).encode())
        os._exit(0)
    os.close(write)
    with os.fdopen(read, "rb") as pipe:
        made = tuple(pipe.read().decode().split())
    assert os.waitpid(pid, 0)[1] == 0
    return made


def test_forked_workers_make_ids_of_their_own() -> None:
    """Workers are forked from one process: each seeds the generator again, or all would make
    the ids the parent makes next."""
    first, second = _ids_of_a_child(), _ids_of_a_child()
    mine = (ids.random_uuid(), new_message_guid(), new_transaction_id())
    assert len(first) == len(second) == 3
    for a, b, c in zip(first, second, mine, strict=True):
        assert len({a, b, c}) == 3
    # the message ids share the millisecond's prefix; their random parts differ
    assert len({first[1][9:], second[1][9:], mine[1][9:]}) == 3
