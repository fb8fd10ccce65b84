// Chat load (SOP load tier): ramping virtual users post multi-turn conversations to POST /api/v1/chat.
//
//   k6 run -e API_BASE=http://127.0.0.1:8082 -e VUS=10 -e DURATION=30s scripts/load-tests/chat-load.js
//
// Each VU keeps one session id for all its turns and alternates Elena and Marcus in it (one shared
// conversation, as the UI's agent switch does). TOKEN (optional) goes in `Authorization: Bearer`.
// Thresholds: p95 of the chat request under 3 s; errors under 1%. A 429 from the service's own limits
// is counted apart (chat_throttled) and is not an error: it is the service protecting itself.
import http from "k6/http";
import { check, sleep } from "k6";
import { Counter, Rate } from "k6/metrics";
import { API_BASE, TOKEN, rampingStages } from "./lib.js";

const AGENTS = ["elena", "marcus"];
const THINK_S = parseFloat(__ENV.THINK || "0.5"); // pause between one VU's turns
const QUESTIONS = [
  "What should we capture first for the launch plan?",
  "Who are the stakeholders we must not forget?",
  "Summarise the risks we discussed so far.",
  "What is the next step for the team this week?",
];

const chatErrors = new Rate("chat_errors");
const chatThrottled = new Counter("chat_throttled");

http.setResponseCallback(http.expectedStatuses(200, 429));

export const options = {
  scenarios: {
    chat: { executor: "ramping-vus", startVUs: 1, stages: rampingStages(), gracefulRampDown: "10s" },
  },
  thresholds: {
    "http_req_duration{name:chat}": ["p(95)<3000"],
    chat_errors: ["rate<0.01"],
  },
};

// One session per VU (init code runs once per VU).
const SESSION = `load-${__VU}-${Date.now().toString(36)}-${Math.floor(Math.random() * 1e9).toString(36)}`;

export default function () {
  const turn = __ITER;
  const agent = AGENTS[turn % AGENTS.length];
  const headers = { "Content-Type": "application/json" };
  if (TOKEN) headers.Authorization = `Bearer ${TOKEN}`;
  const body = JSON.stringify({
    content: `${QUESTIONS[turn % QUESTIONS.length]} (turn ${turn})`,
    agent_id: agent,
    session_id: SESSION,
  });
  const res = http.post(`${API_BASE}/api/v1/chat`, body, { headers, tags: { name: "chat" } });
  if (res.status === 429) {
    chatThrottled.add(1);
    const retry = parseFloat(res.headers["Retry-After"] || "1");
    sleep(Math.min(Number.isFinite(retry) ? retry : 1, 5));
    return;
  }
  let answer = null;
  try {
    answer = res.json();
  } catch (_) {
    answer = null;
  }
  const ok = check(res, {
    "chat 200": (r) => r.status === 200,
    "same session": () => answer !== null && answer.session_id === SESSION,
    "the asked agent answers": () => answer !== null && answer.agent_id === agent,
    "an answer": () => answer !== null && typeof answer.content === "string" && answer.content.length > 0,
  });
  chatErrors.add(!ok);
  sleep(THINK_S);
}
