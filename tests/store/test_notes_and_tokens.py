"""Coaching notes, LLM friction log and spectator tokens (both backends)."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from pitwall.store import Store, StoreError, UnknownSession

from .frames import T0, session_row


def test_coaching_notes_newest_first_with_ids(store: Store) -> None:
    store.create_session(session_row())
    first = store.add_coaching_note(
        "ra-fp1", "Brake at the 3 board", "rule", {"corner": "5", "delta_s": 0.21}
    )
    second = store.add_coaching_note("ra-fp1", "Hold throttle through the kink", "llm", {})
    assert second > first
    notes = store.list_coaching_notes("ra-fp1")
    assert notes["id"].to_list() == [second, first]
    assert json.loads(notes["payload"][1]) == {"corner": "5", "delta_s": 0.21}
    assert store.list_coaching_notes("ra-fp1", limit=1)["text"].to_list() == [
        "Hold throttle through the kink"
    ]
    with pytest.raises(UnknownSession):
        store.add_coaching_note("nope", "x", "rule", {})


def test_llm_friction_log(store: Store) -> None:
    store.add_llm_friction({"component": "debrief", "model": "qwen2.5", "latency_ms": 812.5})
    store.add_llm_friction(
        {
            "created_at": T0,
            "component": "ask",
            "fallback_reason": "connection refused",
            "session_id": "ra-fp1",
        }
    )
    rows = store.list_llm_friction()
    assert rows["component"].to_list() == ["debrief", "ask"]  # newest first
    assert rows["created_at"][1] == T0
    assert rows["fallback_reason"].to_list() == [None, "connection refused"]
    with pytest.raises(ValueError, match="unknown columns"):
        store.add_llm_friction({"prompt": "secret"})


def test_spectator_tokens(store: Store) -> None:
    store.add_spectator_token("h1", T0 + timedelta(hours=1), "pit wall")
    assert store.spectator_token_valid("h1", now=T0)
    assert not store.spectator_token_valid("h1", now=T0 + timedelta(hours=1))  # expiry is exclusive
    assert not store.spectator_token_valid("h2", now=T0)
    with pytest.raises(StoreError, match="already exists"):
        store.add_spectator_token("h1", T0, "again")
    assert store.revoke_spectator_token("h1")
    assert not store.spectator_token_valid("h1", now=T0)
    assert not store.revoke_spectator_token("h1")  # already revoked
    assert not store.revoke_spectator_token("h2")
