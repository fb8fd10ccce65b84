"""Usage across channels with every double: chat tokens from the gateway's usage, voice tokens from
VoiceLive's `response.done` usage (text and audio apart) and the session's seconds, one report; and
a user past the daily token budget is refused a new voice session with a clear message."""

from __future__ import annotations

import contextlib

from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from app.settings import Settings
from app.voice import protocol
from tests.doubles.voicelive_server import RESPONSE_USAGE
from tests.integration.helpers import Client, bearer, dev, stack

ANN = dev("ann")


async def test_chat_and_voice_usage_land_in_one_report(database_settings: Settings) -> None:
    prices = {
        "gpt-test": {"text_input": 1.0, "text_output": 1.0},
        "realtime": {"text_input": 1.0, "text_output": 1.0, "audio_input": 10.0},  # no audio_output
    }
    settings = database_settings.model_copy(
        update={"usage_prices": prices, "azure_voicelive_model": "realtime"}
    )
    async with stack(settings) as s:
        first = await s.chat("Plan the launch", ANN)
        await s.talk(first["session_id"], "Add a rehearsal", "Added it", token=ANN)
        report = (await s.http.get("/api/v1/usage", headers=bearer(ANN))).json()
    by_channel = {d["channel"]: d for d in report["days"]}
    assert set(by_channel) == {"chat", "voice"}
    voice = by_channel["voice"]
    details_in, details_out = RESPONSE_USAGE["input_token_details"], RESPONSE_USAGE["output_token_details"]
    assert voice["tokens"] == {
        "text_input": details_in["text_tokens"],
        "text_output": details_out["text_tokens"],
        "audio_input": details_in["audio_tokens"],
        "audio_output": details_out["audio_tokens"],
        "total": RESPONSE_USAGE["total_tokens"],
    }
    assert voice["model"] == "realtime" and voice["requests"] == 1 and voice["voice_seconds"] > 0
    # Voice produced audio output, which the table does not price: null with the reason, never guessed.
    assert voice["cost"] == {
        "amount": None,
        "reason": "no audio_output price for model 'realtime' in USAGE_PRICES",
    }
    assert by_channel["chat"]["cost"]["amount"] is not None
    assert report["totals"]["cost"]["amount"] is None


async def test_past_the_budget_a_new_voice_session_is_refused(database_settings: Settings) -> None:
    async with stack(database_settings.model_copy(update={"usage_daily_token_budget": 10})) as s:
        await s.chat("Spend my budget", ANN)  # 18 tokens > 10
        async with connect(s.env.url("budget-1"), subprotocols=["engram.v1", f"bearer.{ANN}"]) as ws:  # type: ignore[list-item]
            client = Client(ws)
            message = await client.recv()
            with contextlib.suppress(ConnectionClosed):
                await client.recv()
        assert (
            message["type"] == "error" and "daily token budget (10 tokens) is used up" in message["message"]
        )
        assert ws.close_code == protocol.CLOSE_TRY_AGAIN
        assert s.voicelive.sessions == [], "a refused session never reaches VoiceLive"
