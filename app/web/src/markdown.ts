/**
 * A small markdown renderer that is safe by construction: every character of the input is
 * HTML-escaped first, and the only tags in the output are the ones this module writes. Links keep
 * http(s) and mailto targets only. Covers what chat answers use: paragraphs, headings, lists, quotes,
 * fenced and inline code, emphasis, links, rules and simple tables. No raw HTML passes through.
 */

const ESCAPES: Record<string, string> = {
  "&": "&amp;",
  "<": "&lt;",
  ">": "&gt;",
  '"': "&quot;",
  "'": "&#39;",
};

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (ch) => ESCAPES[ch] ?? ch);
}

const SAFE_URL = /^(https?:\/\/|mailto:)[^\s]*$/i;

/** Inline markup on one line of source text. */
export function renderInline(source: string): string {
  const stash: string[] = [];
  const keep = (html: string): string => `\u0000${stash.push(html) - 1}\u0000`;
  let text = source.replace(/\u0000/g, "");
  // Code spans first: their content is literal.
  text = text.replace(/(`+)([^`]|[^`][\s\S]*?[^`])\1(?!`)/g, (_m, _ticks: string, code: string) =>
    keep(`<code>${escapeHtml(code.trim() || code)}</code>`),
  );
  // Links: [label](url). The label gets inline markup; the url must be http(s) or mailto.
  text = text.replace(/\[([^\]\n]+)\]\(([^()\s]+)\)/g, (whole, label: string, url: string) => {
    if (!SAFE_URL.test(url)) return whole;
    return keep(
      `<a href="${escapeHtml(url)}" target="_blank" rel="noopener noreferrer">${renderEmphasis(escapeHtml(label))}</a>`,
    );
  });
  text = renderEmphasis(escapeHtml(text));
  return text.replace(/\u0000(\d+)\u0000/g, (_m, index: string) => stash[Number(index)] ?? "");
}

function renderEmphasis(escaped: string): string {
  return escaped
    .replace(/\*\*(?=\S)([\s\S]*?\S)\*\*/g, "<strong>$1</strong>")
    .replace(/__(?=\S)([\s\S]*?\S)__/g, "<strong>$1</strong>")
    .replace(/~~(?=\S)([\s\S]*?\S)~~/g, "<del>$1</del>")
    .replace(/(^|[^*\w])\*(?=\S)([^*]*?\S)\*(?![*\w])/g, "$1<em>$2</em>")
    .replace(/(^|[^_\w])_(?=\S)([^_]*?\S)_(?![_\w])/g, "$1<em>$2</em>");
}

const FENCE = /^\s{0,3}(`{3,}|~{3,})\s*([\w+-]*)\s*$/;
const HEADING = /^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$/;
const RULE = /^\s{0,3}([-*_])(\s*\1){2,}\s*$/;
const BULLET = /^\s{0,3}[-*+]\s+(.*)$/;
const ORDERED = /^\s{0,3}(\d{1,9})[.)]\s+(.*)$/;
const QUOTE = /^\s{0,3}>\s?(.*)$/;
const TABLE_DIVIDER = /^\s*\|?\s*:?-{2,}:?\s*(\|\s*:?-{2,}:?\s*)*\|?\s*$/;

function tableCells(line: string): string[] {
  return line
    .trim()
    .replace(/^\|/, "")
    .replace(/\|$/, "")
    .split("|")
    .map((cell) => cell.trim());
}

/**
 * Heading levels an answer may use, mapped onto the page's outline: the answer's highest heading
 * becomes `topLevel` and each deeper level used becomes the next one, so no level is skipped
 * (an answer using only ## and #### gets h3 and h4 under the page's h2).
 */
export function headingLevels(source: string, topLevel: number): Map<number, number> {
  const used = new Set<number>();
  let fence = "";
  for (const line of source.replace(/\r\n?/g, "\n").split("\n")) {
    const marker = FENCE.exec(line)?.[1];
    if (fence) {
      if (line.trim().startsWith(fence)) fence = "";
      continue;
    }
    if (marker) {
      fence = marker;
      continue;
    }
    const heading = HEADING.exec(QUOTE.exec(line)?.[1] ?? line);
    if (heading) used.add((heading[1] ?? "#").length);
  }
  const levels = new Map<number, number>();
  [...used].sort((a, b) => a - b).forEach((level, rank) => levels.set(level, Math.min(topLevel + rank, 6)));
  return levels;
}

export interface MarkdownOptions {
  /** The level an answer's highest heading gets (the page's own headings sit above it). */
  topLevel?: number;
}

/** Markdown -> HTML string that is safe to assign to innerHTML. */
export function renderMarkdown(source: string, options: MarkdownOptions = {}): string {
  return renderBlocks(source, headingLevels(source, options.topLevel ?? 3));
}

function renderBlocks(source: string, levels: Map<number, number>): string {
  const lines = source.replace(/\r\n?/g, "\n").split("\n");
  const out: string[] = [];
  let i = 0;
  const at = (n: number): string => lines[n] ?? "";
  const isBlockStart = (line: string): boolean =>
    FENCE.test(line) || HEADING.test(line) || RULE.test(line) || BULLET.test(line) ||
    ORDERED.test(line) || QUOTE.test(line);

  while (i < lines.length) {
    const line = at(i);
    if (line.trim() === "") {
      i++;
      continue;
    }
    const fence = FENCE.exec(line);
    if (fence) {
      const marker = fence[1] ?? "```";
      const body: string[] = [];
      i++;
      while (i < lines.length && !at(i).trim().startsWith(marker)) body.push(at(i++));
      i++; // the closing fence (or the end of the text)
      const lang = fence[2] ? ` class="language-${escapeHtml(fence[2])}"` : "";
      // Focusable, so a keyboard user can scroll a long line sideways.
      out.push(`<pre tabindex="0"><code${lang}>${escapeHtml(body.join("\n"))}</code></pre>`);
      continue;
    }
    const heading = HEADING.exec(line);
    if (heading) {
      const level = levels.get((heading[1] ?? "#").length) ?? 6;
      out.push(`<h${level}>${renderInline(heading[2] ?? "")}</h${level}>`);
      i++;
      continue;
    }
    if (RULE.test(line)) {
      out.push("<hr>");
      i++;
      continue;
    }
    if (QUOTE.test(line)) {
      const body: string[] = [];
      while (i < lines.length && QUOTE.test(at(i))) body.push(QUOTE.exec(at(i++))?.[1] ?? "");
      out.push(`<blockquote>${renderBlocks(body.join("\n"), levels)}</blockquote>`);
      continue;
    }
    if (BULLET.test(line) || ORDERED.test(line)) {
      const ordered = ORDERED.test(line);
      const pattern = ordered ? ORDERED : BULLET;
      const items: string[] = [];
      const start = ordered ? Number(ORDERED.exec(line)?.[1] ?? "1") : 1;
      while (i < lines.length && pattern.test(at(i))) {
        const match = pattern.exec(at(i++));
        let item = (ordered ? match?.[2] : match?.[1]) ?? "";
        // Continuation lines (indented, not a new item) belong to this item.
        while (i < lines.length && /^\s{2,}\S/.test(at(i)) && !pattern.test(at(i))) item += ` ${at(i++).trim()}`;
        items.push(`<li>${renderInline(item)}</li>`);
      }
      const tag = ordered ? "ol" : "ul";
      const startAttr = ordered && start !== 1 ? ` start="${start}"` : "";
      out.push(`<${tag}${startAttr}>${items.join("")}</${tag}>`);
      continue;
    }
    if (line.includes("|") && TABLE_DIVIDER.test(at(i + 1))) {
      const head = tableCells(line);
      i += 2;
      const rows: string[][] = [];
      while (i < lines.length && at(i).includes("|") && at(i).trim() !== "") rows.push(tableCells(at(i++)));
      const th = head.map((cell) => `<th scope="col">${renderInline(cell)}</th>`).join("");
      const body = rows
        .map((row) => `<tr>${head.map((_, c) => `<td>${renderInline(row[c] ?? "")}</td>`).join("")}</tr>`)
        .join("");
      out.push(`<table><thead><tr>${th}</tr></thead><tbody>${body}</tbody></table>`);
      continue;
    }
    const para: string[] = [];
    while (i < lines.length && at(i).trim() !== "" && (para.length === 0 || !isBlockStart(at(i)))) {
      para.push(at(i++).trim());
    }
    out.push(`<p>${para.map(renderInline).join("<br>")}</p>`);
  }
  return out.join("\n");
}
