import { describe, expect, it } from "vitest";
import { escapeHtml, renderInline, renderMarkdown } from "../src/markdown";

/** Every tag the renderer may emit; anything else in the output is a failure. */
const ALLOWED = new Set(["p", "br", "h2", "h3", "h4", "h5", "h6", "ul", "ol", "li", "blockquote", "pre", "code", "strong", "em", "del", "a", "hr", "table", "thead", "tbody", "tr", "th", "td"]);

function tags(html: string): string[] {
  return [...html.matchAll(/<\/?([a-zA-Z0-9]+)/g)].map((m) => (m[1] ?? "").toLowerCase());
}

function attributes(html: string): string[] {
  return [...html.matchAll(/<[a-z0-9]+((?:\s+[^>]*)?)>/g)].flatMap((m) =>
    [...(m[1] ?? "").matchAll(/([a-zA-Z-]+)=/g)].map((a) => a[1] ?? ""),
  );
}

const ATTACKS = [
  "<script>alert(1)</script>",
  '<img src=x onerror="alert(1)">',
  "<a href=\"javascript:alert(1)\">x</a>",
  "[click](javascript:alert(1))",
  "[click](JaVaScRiPt:alert(1))",
  "[click](data:text/html;base64,PHNjcmlwdD4=)",
  '[x](https://ok.example.test" onmouseover="alert(1))',
  "**<svg onload=alert(1)>**",
  "`</code><script>alert(1)</script>`",
  "```\n</code></pre><script>alert(1)</script>\n```",
  "| a | b |\n|---|---|\n| <iframe src=//evil> | x |",
  "> <style>body{display:none}</style>",
  "\u0000 0\u0000 <b>stash</b>",
];

describe("markdown sanitising", () => {
  it.each(ATTACKS)("never emits markup from the text: %s", (attack) => {
    const html = renderMarkdown(attack);
    for (const tag of tags(html)) expect(ALLOWED.has(tag), `tag <${tag}> in ${html}`).toBe(true);
    for (const attr of attributes(html)) expect(["href", "target", "rel", "class", "start", "scope", "tabindex"]).toContain(attr);
    expect(html).not.toMatch(/href="(?!https?:|mailto:)/i);
  });

  it("escapes every HTML special character", () => {
    expect(escapeHtml(`<a href="x">'&'</a>`)).toBe("&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;");
  });

  it("keeps safe links, opening in a new tab without an opener", () => {
    expect(renderInline("see [docs](https://learn.example.test/a_b?x=1&y=2)")).toBe(
      'see <a href="https://learn.example.test/a_b?x=1&amp;y=2" target="_blank" rel="noopener noreferrer">docs</a>',
    );
    expect(renderInline("[mail](mailto:team@example.test)")).toContain('href="mailto:team@example.test"');
    expect(renderInline("[rel](/local/path)")).toBe("[rel](/local/path)");
  });
});

describe("markdown rendering", () => {
  it("renders emphasis and code without touching snake_case", () => {
    expect(renderInline("**bold**, *it*, _it_, ~~gone~~ and `a < b` in user_story_id")).toBe(
      "<strong>bold</strong>, <em>it</em>, <em>it</em>, <del>gone</del> and <code>a &lt; b</code> in user_story_id",
    );
  });

  it("renders headings (below the page's own), lists, quotes, rules and paragraphs", () => {
    const html = renderMarkdown("# Plan\n\n1. scope\n2. risks\n\n- a\n- b\n  continued\n\n> note\n\n---\n\nline one\nline two");
    expect(html).toBe(
      [
        "<h3>Plan</h3>",
        "<ol><li>scope</li><li>risks</li></ol>",
        "<ul><li>a</li><li>b continued</li></ul>",
        "<blockquote><p>note</p></blockquote>",
        "<hr>",
        "<p>line one<br>line two</p>",
      ].join("\n"),
    );
  });

  it("renders fenced code literally, with its language", () => {
    expect(renderMarkdown("```python\nif a < b and *x*:\n    pass\n```")).toBe(
      '<pre tabindex="0"><code class="language-python">if a &lt; b and *x*:\n    pass</code></pre>',
    );
  });

  it("maps heading levels onto the page's outline without skipping one", () => {
    // ## and #### only: h3 then h4 (never h3 then h5), under the page's h1 and the log's h2.
    expect(renderMarkdown("## Goals\n\n#### Detail\n\n## Risks")).toBe("<h3>Goals</h3>\n<h4>Detail</h4>\n<h3>Risks</h3>");
    expect(renderMarkdown("### Only", { topLevel: 2 })).toBe("<h2>Only</h2>");
    // A "#" inside a code block is not a heading; levels never pass h6.
    expect(renderMarkdown("```\n# comment\n```\n\n#### Real")).toContain("<h3>Real</h3>");
    expect(renderMarkdown("# a\n## b\n### c\n#### d\n##### e")).toContain("<h6>d</h6>");
  });

  it("renders a simple table", () => {
    expect(renderMarkdown("| Risk | Owner |\n|---|:--:|\n| **late** | Marcus |")).toBe(
      '<table><thead><tr><th scope="col">Risk</th><th scope="col">Owner</th></tr></thead>' +
        "<tbody><tr><td><strong>late</strong></td><td>Marcus</td></tr></tbody></table>",
    );
  });

  it("keeps an ordered list's start number", () => {
    expect(renderMarkdown("3. third\n4. fourth")).toBe('<ol start="3"><li>third</li><li>fourth</li></ol>');
  });
});
