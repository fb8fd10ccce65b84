import { describe, expect, it } from "vitest";
import { SseParser, interpretChatEvent } from "../src/sse";

describe("SseParser", () => {
  it("parses events, names, ids, comments and multi-line data", () => {
    const parser = new SseParser();
    const events = parser.push(": keep-alive\nevent: delta\ndata: {\"a\":1}\n\nid: 7\ndata: line one\ndata: line two\n\n");
    expect(events).toEqual([
      { event: "delta", data: '{"a":1}' },
      { event: "message", data: "line one\nline two", id: "7" },
    ]);
  });

  it("assembles events split anywhere across chunks, with any line ending", () => {
    const stream = "event: delta\r\ndata: Hel\r\n\r\ndata:lo\r\rdata: world\n\n";
    for (let cut = 1; cut < stream.length; cut++) {
      const parser = new SseParser();
      const events = [...parser.push(stream.slice(0, cut)), ...parser.push(stream.slice(cut))];
      expect(events.map((e) => e.data)).toEqual(["Hel", "lo", "world"]);
    }
  });

  it("ignores data-less blocks and drops an unterminated event at the end", () => {
    const parser = new SseParser();
    expect(parser.push("event: ping\n\ndata: partial")).toEqual([]);
    expect(parser.end()).toEqual([]);
  });
});

describe("interpretChatEvent", () => {
  it("reads deltas in the usual shapes", () => {
    expect(interpretChatEvent({ event: "delta", data: '{"type":"delta","content":"Hi"}' })).toEqual({ kind: "delta", text: "Hi" });
    expect(interpretChatEvent({ event: "message", data: '{"delta":" there"}' })).toEqual({ kind: "delta", text: " there" });
    expect(interpretChatEvent({ event: "delta", data: "plain" })).toEqual({ kind: "delta", text: "plain" });
  });

  it("reads the closing metadata", () => {
    const item = interpretChatEvent({
      event: "done",
      data: '{"message_id":"m1","session_id":"s1","agent_id":"marcus","agent_name":"Marcus","content":"Hi there","tokens_used":5,"latency_ms":12}',
    });
    expect(item).toEqual({
      kind: "done",
      meta: expect.objectContaining({ agent_id: "marcus", content: "Hi there", tokens_used: 5 }),
    });
    expect(interpretChatEvent({ event: "message", data: '{"type":"done","agent_id":"elena"}' })?.kind).toBe("done");
  });

  it("reads errors and ignores the unknown", () => {
    expect(interpretChatEvent({ event: "error", data: '{"message":"upstream timed out"}' })).toEqual({
      kind: "error",
      message: "upstream timed out",
    });
    expect(interpretChatEvent({ event: "message", data: '{"type":"error","detail":"busy"}' })).toEqual({ kind: "error", message: "busy" });
    expect(interpretChatEvent({ event: "message", data: "[DONE]" })).toBeNull();
    expect(interpretChatEvent({ event: "ping", data: "{}" })).toBeNull();
  });
});
