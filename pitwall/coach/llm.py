"""Optional language model: rephrase a template answer through any OpenAI-compatible chat endpoint.

The coach never needs a model. When ``PITWALL_LLM_URL`` names an OpenAI-compatible API (llama.cpp's server,
Ollama, vLLM…; the base URL, e.g. ``http://127.0.0.1:8080/v1``), :func:`phrase` asks it to rephrase the
template text rendered from the findings, and **rejects any reply that states a number the findings and the
template do not** (:func:`invented_numbers`). With no model configured, on a timeout, an HTTP or protocol
error, an empty reply or an invented number, the template text is returned and :class:`Phrased` says why
(``fallback_reason``); the caller logs that as an ``llm_friction`` row.

Numbers are compared at the precision the reply states them: "0.6 s" matches a finding of 0.57 s, "0.9 s" does
not. Digits inside words ("T6", "S2") are labels, not numbers.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Final

import httpx

from pitwall.coach.findings import Finding, finding_numbers
from pitwall.config import LlmConfig

SYSTEM_PROMPT: Final = (
    "You are a calm, precise motorsport driving coach. Rephrase the coach's notes for the driver in at most "
    "three short sentences. Use only the facts and numbers in the notes; never add a number, a lap, a corner "
    "or a time that is not there. No preamble."
)

_NUMBER = re.compile(r"(?<![A-Za-z0-9_.])[-+]?\d+(?:[.,]\d+)?")
_ANY_DIGITS = re.compile(r"\d+(?:\.\d+)?")


@dataclass(frozen=True)
class Phrased:
    """The text to say, who wrote it (``llm`` or ``rule``), why the model's text was not used
    (``not_configured``, ``timeout``, ``http_error``, ``bad_response``, ``empty``, ``invented_number``; ``None``
    when it was), how long the model took (ms; ``None`` without a call) and a short detail."""

    text: str
    source: str
    fallback_reason: str | None = None
    latency_ms: float | None = None
    detail: str | None = None


def _numbers(text: str) -> list[str]:
    return [m.group(0).replace(",", ".") for m in _NUMBER.finditer(text)]


def invented_numbers(reply: str, allowed: Iterable[float], template: str = "") -> list[str]:
    """The numbers of ``reply`` that no allowed value gives at the reply's precision (``allowed`` = the
    findings' numbers; every digit group of ``template`` is allowed too, labels included)."""
    pool = [*allowed, *(float(x) for x in _ANY_DIGITS.findall(template))]
    bad = []
    for token in _numbers(reply):
        value = float(token)
        decimals = len(token.split(".")[1]) if "." in token else 0
        tolerance = 0.5 * 10**-decimals + 1e-9
        if not any(abs(abs(value) - abs(a)) <= tolerance for a in pool):
            bad.append(token)
    return bad


def _messages(template: str, question: str | None) -> list[dict[str, str]]:
    notes = template if question is None else f"Driver's question: {question}\nCoach's notes: {template}"
    return [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": notes}]


def _stream_text(response: httpx.Response) -> Iterator[str]:
    """The content deltas of a streamed chat completion (SSE ``data:`` lines, ``[DONE]`` ends)."""
    for line in response.iter_lines():
        if not line.startswith("data:"):
            continue
        data = line[5:].strip()
        if data == "[DONE]":
            return
        chunk = json.loads(data)
        delta = chunk["choices"][0].get("delta") or {}
        if content := delta.get("content"):
            yield str(content)


def _complete(
    config: LlmConfig, messages: list[dict[str, str]], on_delta: Callable[[str], None] | None
) -> str:
    url = f"{config.url.rstrip('/')}/chat/completions" if config.url else ""
    body = {"model": config.model, "messages": messages, "temperature": 0, "stream": on_delta is not None}
    timeout = httpx.Timeout(config.timeout_s)
    with httpx.Client(timeout=timeout, trust_env=False) as client:
        if on_delta is None:
            response = client.post(url, json=body)
            response.raise_for_status()
            return str(response.json()["choices"][0]["message"]["content"])
        parts: list[str] = []
        deadline = time.monotonic() + config.timeout_s
        with client.stream("POST", url, json=body) as response:
            response.raise_for_status()
            for delta in _stream_text(response):
                parts.append(delta)
                on_delta(delta)
                if time.monotonic() > deadline:
                    raise httpx.ReadTimeout("the reply took longer than the timeout")
        return "".join(parts)


def phrase(
    findings: Sequence[Finding],
    template: str,
    *,
    config: LlmConfig,
    question: str | None = None,
    on_delta: Callable[[str], None] | None = None,
) -> Phrased:
    """Rephrase ``template`` (rendered from ``findings``) with the configured model; see the module doc.

    ``on_delta`` receives the model's text as it streams (the stream is still checked as a whole before it is
    used: callers that show deltas must show the returned ``text`` as the final word). Never raises for a
    model problem: the template comes back with the reason.
    """
    if not config.enabled:
        return Phrased(template, "rule", "not_configured")
    started = time.perf_counter()

    def fallback(reason: str, detail: str) -> Phrased:
        latency = (time.perf_counter() - started) * 1000
        return Phrased(template, "rule", reason, latency, detail[:500])

    try:
        reply = _complete(config, _messages(template, question), on_delta).strip()
    except httpx.TimeoutException as exc:
        return fallback("timeout", f"no reply within {config.timeout_s} s: {exc}")
    except httpx.HTTPStatusError as exc:
        return fallback("http_error", f"HTTP {exc.response.status_code}")
    except httpx.HTTPError as exc:
        return fallback("http_error", f"{type(exc).__name__}: {exc}")
    except (KeyError, IndexError, TypeError, ValueError) as exc:
        return fallback("bad_response", f"not a chat completion: {type(exc).__name__}: {exc}")
    if not reply:
        return fallback("empty", "the model returned no text")
    if bad := invented_numbers(reply, finding_numbers(findings), template):
        return fallback("invented_number", f"numbers not in the findings: {', '.join(bad)}; reply: {reply}")
    return Phrased(reply, "llm", None, (time.perf_counter() - started) * 1000)
