// Voice websocket stress (SOP load tier): each VU holds voice sessions on
// WS /api/v1/voice/voicelive/{session} and streams microphone audio at real time (docs/voice-protocol.md).
//
//   k6 run -e API_BASE=http://127.0.0.1:8082 -e VUS=10 -e DURATION=30s scripts/load-tests/voice-ws-stress.js
//
// A session: connect (the token, when TOKEN is set, in `Sec-WebSocket-Protocol: engram.v1,
// bearer.<token>` as the UI sends it), wait for `agent_switched` (ready), send TURN_FRAMES frames of
// 40 ms PCM16 24 kHz audio at real time, wait for the answer's first `audio`, switch to Marcus, send a
// second turn, wait for its answer, close. Measured: connect time (k6's ws_connecting), time from the
// last frame of a turn to the first answer audio (voice_answer_latency), and counts of agent_switched,
// complete user transcriptions and audio messages.
// A session is an error when the upgrade fails, the server sends an error or closes first, or an
// awaited event does not come within TIMEOUT_MS. Thresholds: session errors < 5%, p95 connect < 1 s.
//
// Against a real VoiceLive a synthetic tone is not speech: set AUDIO_FILE to raw PCM16 24 kHz mono
// speech, or EXPECT_ANSWER=false to measure connect and streaming only.
import ws from "k6/ws";
import { check } from "k6";
import encoding from "k6/encoding";
import { Counter, Rate, Trend } from "k6/metrics";
import { API_BASE, TOKEN, rampingStages } from "./lib.js";

const FRAME_MS = 40;
const FRAME_SAMPLES = 960; // 40 ms at 24 kHz
const TURN_FRAMES = parseInt(__ENV.TURN_FRAMES || "25", 10); // one second of speech per turn
const TIMEOUT_MS = parseInt(__ENV.TIMEOUT_MS || "10000", 10); // for each awaited event
const EXPECT_ANSWER = (__ENV.EXPECT_ANSWER || "true") !== "false";

const sessionErrors = new Rate("voice_session_errors");
const answerLatency = new Trend("voice_answer_latency", true);
const readyTime = new Trend("voice_ready_time", true);
const agentSwitched = new Counter("voice_agent_switched");
const transcriptions = new Counter("voice_transcriptions_complete");
const audioMessages = new Counter("voice_audio_messages");
const framesSent = new Counter("voice_frames_sent");

export const options = {
  scenarios: {
    voice: { executor: "ramping-vus", startVUs: 1, stages: rampingStages(), gracefulRampDown: "15s" },
  },
  thresholds: {
    voice_session_errors: ["rate<0.05"],
    ws_connecting: ["p(95)<1000"],
  },
};

/** The audio frames to send, base64: AUDIO_FILE (raw PCM16 24 kHz mono) cut in 40 ms, else a 440 Hz tone. */
function frames() {
  const bytes = FRAME_SAMPLES * 2;
  if (__ENV.AUDIO_FILE) {
    const pcm = new Uint8Array(open(__ENV.AUDIO_FILE, "b"));
    const out = [];
    for (let at = 0; at + bytes <= pcm.length; at += bytes) out.push(encoding.b64encode(pcm.slice(at, at + bytes).buffer));
    return out;
  }
  const buffer = new ArrayBuffer(bytes);
  const view = new DataView(buffer);
  for (let i = 0; i < FRAME_SAMPLES; i++) {
    view.setInt16(i * 2, Math.round(0.3 * 32767 * Math.sin((2 * Math.PI * 440 * i) / 24000)), true);
  }
  return [encoding.b64encode(buffer)]; // 440 Hz fits 40 ms exactly (17.6 periods: near enough)
}

const FRAMES = frames();
const wsBase = API_BASE.replace(/^http/, "ws");

export default function () {
  const session = `loadv-${__VU}-${__ITER}-${Math.floor(Math.random() * 1e9).toString(36)}`;
  const url = `${wsBase}/api/v1/voice/voicelive/${session}?agent=elena`;
  const protocols = TOKEN ? `engram.v1, bearer.${TOKEN}` : "engram.v1";
  const params = { headers: { "Sec-WebSocket-Protocol": protocols }, tags: { name: "voice" } };
  const plan = ["elena", "marcus"]; // turn 1 with Elena, then a switch and turn 2 with Marcus
  let failed = null;
  let done = false;
  let started = Date.now();

  const res = ws.connect(url, params, function (socket) {
    let turn = 0;
    let sent = 0;
    let lastFrameAt = 0;
    let waitingAnswer = false;
    let timer = null;

    const fail = (why) => {
      if (failed === null && !done) failed = why;
      socket.close();
    };
    const expect = (why) => {
      const token = {};
      timer = token;
      socket.setTimeout(() => {
        if (timer === token) fail(`timeout: ${why}`);
      }, TIMEOUT_MS);
    };
    const finish = () => {
      done = true;
      socket.close();
    };

    // One real-time clock for the session: a frame every 40 ms while a turn is being spoken.
    let speaking = false;
    const sendTurn = () => {
      sent = 0;
      timer = null;
      speaking = true;
    };
    const tick = () => {
      if (!speaking) return;
      socket.send(JSON.stringify({ type: "audio", data: FRAMES[(turn * TURN_FRAMES + sent) % FRAMES.length] }));
      sent += 1;
      framesSent.add(1);
      if (sent < TURN_FRAMES) return;
      speaking = false;
      lastFrameAt = Date.now();
      if (EXPECT_ANSWER) {
        waitingAnswer = true;
        expect(`answer audio of turn ${turn + 1}`);
      } else {
        nextTurn();
      }
    };

    const nextTurn = () => {
      turn += 1;
      if (turn >= plan.length) return finish();
      socket.send(JSON.stringify({ type: "agent", agent_id: plan[turn] }));
      expect(`agent_switched to ${plan[turn]}`);
    };

    socket.on("open", () => {
      started = Date.now();
      socket.setInterval(tick, FRAME_MS);
      expect("agent_switched (session ready)");
    });
    socket.on("message", (raw) => {
      let message;
      try {
        message = JSON.parse(raw);
      } catch (_) {
        return fail("a message that is not JSON");
      }
      switch (message.type) {
        case "agent_switched":
          agentSwitched.add(1);
          if (message.agent_id !== plan[turn]) return fail(`switched to ${message.agent_id}, not ${plan[turn]}`);
          if (turn === 0) readyTime.add(Date.now() - started);
          sendTurn();
          break;
        case "transcription":
          if (message.speaker === "user" && message.status === "complete") transcriptions.add(1);
          break;
        case "audio":
          audioMessages.add(1);
          if (waitingAnswer) {
            waitingAnswer = false;
            answerLatency.add(Date.now() - lastFrameAt);
            nextTurn();
          }
          break;
        case "error":
          fail(`server error: ${message.message}`);
          break;
      }
    });
    socket.on("close", (code) => {
      if (!done && failed === null) failed = `closed early (${code})`;
    });
    socket.on("error", (e) => {
      if (failed === null && !done) failed = `socket error: ${e.error ? e.error() : e}`;
    });
    socket.setTimeout(() => fail("session took too long"), TIMEOUT_MS * 4 + plan.length * TURN_FRAMES * FRAME_MS);
  });

  const upgraded = res && res.status === 101;
  if (!upgraded && failed === null) failed = `upgrade answered ${res ? res.status : "nothing"}`;
  check(res, { "upgrade 101": () => upgraded, "session completed": () => failed === null });
  if (failed !== null && __ENV.VERBOSE) console.warn(`session ${session}: ${failed}`);
  sessionErrors.add(failed !== null);
}
