"""The original Engram web client's calls, made from a browser against this API.

A small page (served from the service's origin through Playwright routing, so it is same-origin
like the original client) calls the routes with `fetch` and the original client's shapes: health,
agents, chat, facts, search, episodes, one episode's transcript and "clear session"; it renders
what it read, and the test reads the rendering.
"""

from __future__ import annotations

from playwright.sync_api import Browser, Route, expect

CLIENT_PAGE = "/engram-client-under-test.html"

CLIENT_HTML = """<!doctype html>
<html><head><meta charset="utf-8"><title>Engram client</title></head>
<body>
<dl>
  <dt>health</dt><dd id="health"></dd>
  <dt>agents</dt><dd id="agents"></dd>
  <dt>reply</dt><dd id="reply"></dd>
  <dt>fact</dt><dd id="fact"></dd>
  <dt>search</dt><dd id="search"></dd>
  <dt>episodes</dt><dd id="episodes"></dd>
  <dt>transcript</dt><dd id="transcript"></dd>
  <dt>cleared</dt><dd id="cleared"></dd>
  <dt>after</dt><dd id="after"></dd>
  <dt>error</dt><dd id="error"></dd>
</dl>
<script>
const show = (id, text) => { document.getElementById(id).textContent = text; };
const json = async (path, init) => {
  const response = await fetch(path, { headers: { "Content-Type": "application/json" }, ...init });
  if (!response.ok) throw new Error(path + " answered " + response.status);
  return response.json();
};
(async () => {
  const health = await json("/health");
  show("health", health.status + " at " + new Date(health.timestamp).toISOString());
  const agents = await json("/api/v1/agents");
  show("agents", agents.map((a) => a.name).join(", "));
  const session = "client-" + Date.now();
  const question = { content: "  Plan the launch\\nplease", agent_id: "marcus", session_id: session };
  const reply = await json("/api/v1/chat", { method: "POST", body: JSON.stringify(question) });
  show("reply", reply.agent_name + ": " + reply.content);
  const fact = await json("/api/v1/memory/facts", {
    method: "POST",
    body: JSON.stringify({ content: "The launch is in May", metadata: { source: "client" } }),
  });
  show("fact", fact.success + " " + (fact.node_id ? "with id" : "without id"));
  const search = await json("/api/v1/memory/search", {
    method: "POST", body: JSON.stringify({ query: "launch", limit: 5 }),
  });
  const found = search.results.map((r) => r.node_type + "/" + r.content);
  show("search", search.total_count + ": " + found.join("; "));
  const page = await json("/api/v1/memory/episodes?limit=10&offset=0");
  const mine = page.episodes.find((e) => e.id === session);
  show("episodes", [page.total_count, mine.summary, mine.turn_count + " turns", mine.agent_id,
    "topics " + mine.topics.length, mine.ended_at >= mine.started_at].join(" | "));
  const episode = await json("/api/v1/memory/episodes/" + session);
  const lines = episode.transcript.map((t) => t.role + "@" + t.metadata.agent_id + "/" + t.metadata.channel);
  show("transcript", lines.join(" "));
  const cleared = await json("/api/v1/chat/session/" + session, { method: "DELETE" });
  show("cleared", cleared.success + " " + cleared.message);
  const gone = await fetch("/api/v1/memory/episodes/" + session);
  show("after", "episode " + gone.status);
})().catch((error) => show("error", String(error)));
</script>
</body></html>
"""


def test_original_client_calls_render(browser: Browser, service: str) -> None:
    context = browser.new_context()
    page = context.new_page()

    def serve_client(route: Route) -> None:
        route.fulfill(status=200, content_type="text/html", body=CLIENT_HTML)

    page.route(f"{service}{CLIENT_PAGE}", serve_client)
    try:
        page.goto(f"{service}{CLIENT_PAGE}")
        expect(page.locator("#after")).to_have_text("episode 404", timeout=15_000)
        assert page.locator("#error").text_content() == ""
        assert page.locator("#health").text_content().startswith("ok at 20")  # type: ignore[union-attr]
        expect(page.locator("#agents")).to_have_text("Elena, Marcus")
        expect(page.locator("#reply")).to_contain_text("Marcus: ")
        expect(page.locator("#fact")).to_have_text("true with id")
        expect(page.locator("#search")).to_have_text("1: fact/The launch is in May")
        expect(page.locator("#episodes")).to_contain_text(
            "| Plan the launch | 2 turns | marcus | topics 0 | true"
        )
        expect(page.locator("#transcript")).to_have_text("user@marcus/chat assistant@marcus/chat")
        expect(page.locator("#cleared")).to_contain_text("true session deleted (2 turns")
    finally:
        context.close()
