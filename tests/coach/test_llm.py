"""The optional language model against a real local OpenAI-compatible server: accepted rephrasing (plain and
streamed), an invented number rejected, timeout, HTTP error, garbage, and no model configured."""

from __future__ import annotations

import pytest

from pitwall.coach.findings import Finding
from pitwall.coach.llm import invented_numbers, phrase
from pitwall.config import LlmConfig
from tests.llm_server import INVENTED, LEAD_IN, model_server

FINDINGS = [
    Finding(
        kind="corner_time_loss",
        corner="6",
        corner_name="The Carousel",
        gain_s=0.574,
        metrics={"gain_s": 0.574},
    ),
    Finding(
        kind="lap_delta", lap=4, gain_s=1.234, metrics={"faster_lap": 4, "slower_lap": 2, "delta_s": 1.234}
    ),
]
TEMPLATE = "T6 (The Carousel): 0.57 s to gain. Lap 4 was 1.23 s faster than lap 2."


def test_invented_numbers_compares_at_the_stated_precision() -> None:
    allowed = [0.574, 1.234, 4, 2]
    assert invented_numbers("T6 costs 0.6 s; lap 4 beat lap 2 by 1.23 s", allowed, TEMPLATE) == []
    assert invented_numbers("T6 costs 0.9 s", allowed, TEMPLATE) == ["0.9"]
    assert invented_numbers("about 12 s in S3", allowed, TEMPLATE) == ["12"]
    assert invented_numbers("Turn 6, T11 and S3 are labels", allowed, "Turn 6") == []


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "streamed"])
def test_a_rephrasing_that_keeps_the_numbers_is_used(stream: bool) -> None:
    deltas: list[str] = []
    with model_server("rephrase") as model:
        out = phrase(
            FINDINGS,
            TEMPLATE,
            config=LlmConfig(url=model.url, model="test-model"),
            question="Why was lap 4 faster?",
            on_delta=deltas.append if stream else None,
        )
    assert out.source == "llm" and out.fallback_reason is None and out.latency_ms is not None
    assert out.text == f"{LEAD_IN} {TEMPLATE}"
    assert model.requests[0]["model"] == "test-model" and model.requests[0]["stream"] is stream
    assert model.requests[0]["messages"][0]["role"] == "system"
    assert "Why was lap 4 faster?" in model.requests[0]["messages"][1]["content"]
    assert ("".join(deltas).strip() == out.text) if stream else deltas == []


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "streamed"])
def test_a_reply_that_invents_a_number_is_rejected(stream: bool) -> None:
    with model_server("invent") as model:
        out = phrase(
            FINDINGS, TEMPLATE, config=LlmConfig(url=model.url), on_delta=(lambda _: None) if stream else None
        )
    assert out.text == TEMPLATE and out.source == "rule" and out.fallback_reason == "invented_number"
    assert "7.77" in (out.detail or "") and INVENTED not in out.text


@pytest.mark.parametrize(
    ("mode", "reason"), [("error", "http_error"), ("garbage", "bad_response"), ("slow", "timeout")]
)
def test_model_failures_fall_back_to_the_template(mode: str, reason: str) -> None:
    with model_server(mode, delay_s=2.0) as model:
        out = phrase(FINDINGS, TEMPLATE, config=LlmConfig(url=model.url, timeout_s=0.5))
    assert (out.text, out.source, out.fallback_reason) == (TEMPLATE, "rule", reason)
    assert out.latency_ms is not None


def test_no_model_configured_and_an_unreachable_one() -> None:
    out = phrase(FINDINGS, TEMPLATE, config=LlmConfig())
    assert (out.text, out.source, out.fallback_reason, out.latency_ms) == (
        TEMPLATE,
        "rule",
        "not_configured",
        None,
    )
    with model_server() as model:
        url = model.url
    gone = phrase(FINDINGS, TEMPLATE, config=LlmConfig(url=url, timeout_s=2.0))
    assert gone.fallback_reason == "http_error" and gone.text == TEMPLATE
