// A small, safe Markdown subset for run notes: every character of the source is escaped, then
// only our own tags are added. Headings (#, ##, ###), paragraphs, "-"/"*" and "1." lists,
// fenced ``` code blocks, `code`, **bold**, *italic*, [links](http(s)://... or mailto:...),
// autolinks <https://...> and bare http(s):// addresses (other link targets stay text).
// No raw HTML passes through.
//
// Code spans and links are cut out of a line before emphasis is looked for, and put back after:
// a `*` or `_` in an address never turns into emphasis, and emphasis always closes on the same
// side of a link as it opened (it may hold a whole link, never half of one).

const ESCAPES = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };

export function escapeHtml(text) {
  return String(text).replace(/[&<>"']/g, (c) => ESCAPES[c]);
}

const SAFE_TARGET = /^(https?:\/\/[^\s]+|mailto:[^\s]+)$/i;
// A link's target may hold one level of balanced parentheses (…/wiki/Foo_(bar)).
const TARGET = String.raw`((?:[^\s()]|\([^\s()]*\))+)`;
// In the order they are tried at each position: code span, link, <autolink>, bare address.
const ATOMS = new RegExp(
  [
    "`([^`]+)`",
    String.raw`\[([^\]]+)\]\(${TARGET}\)`,
    String.raw`<((?:https?:\/\/|mailto:)[^\s<>]+)>`,
    // A bare address starts a word (no lookbehind: older WebKit, the desktop window, lacks it).
    String.raw`(^|[^\w/])(https?:\/\/[^\s<>]+)`,
  ].join("|"),
  "gi",
);
const MARK = /\u0000(\d+)\u0000/g;

function anchor(href, html) {
  return `<a href="${escapeHtml(href)}" target="_blank" rel="noopener noreferrer">${html}</a>`;
}

/**
 * A bare address ends before trailing punctuation (GitHub's rule: . , : ; ! ? * _ ~ and quotes)
 * and before a ")" it did not open; returns [address, the rest].
 */
function trimAddress(url) {
  let end = url.length;
  for (;;) {
    const last = url[end - 1];
    if (/[.,:;!?*_~'"]/.test(last)) {
      end -= 1;
    } else if (last === ")") {
      const part = url.slice(0, end);
      if ((part.match(/\(/g) || []).length >= (part.match(/\)/g) || []).length) break;
      end -= 1;
    } else {
      break;
    }
  }
  return [url.slice(0, end), url.slice(end)];
}

function emphasis(escaped) {
  const bold = (s) => s.replace(/\*\*([^*]+)\*\*/g, "<strong>$1</strong>");
  // Bold again after italic: **a *b* c** holds its italic whole.
  return bold(bold(escaped).replace(/(^|[^*])\*([^*\s][^*]*)\*/g, "$1<em>$2</em>"));
}

/** Inline markup of one line of source (not yet escaped); `links` false inside a link's text. */
function inline(source, links = true) {
  const atoms = [];
  const keep = (html) => {
    atoms.push(html);
    return `\u0000${atoms.length - 1}\u0000`;
  };
  let text = "";
  let last = 0;
  for (const m of source.matchAll(ATOMS)) {
    const [whole, code, label, target, auto, before, bare] = m;
    let piece = null;
    let lead = ""; // the character before a bare address: text
    let rest = "";
    if (code !== undefined) {
      piece = keep(`<code>${escapeHtml(code)}</code>`);
    } else if (!links) {
      continue;
    } else if (label !== undefined) {
      // Another target (javascript:, ftp:) stays text as typed, emphasis and all.
      piece = keep(SAFE_TARGET.test(target) ? anchor(target, inline(label, false)) : escapeHtml(whole));
    } else if (auto !== undefined) {
      piece = keep(anchor(auto, escapeHtml(auto)));
    } else {
      const [url, after] = trimAddress(bare);
      if (/^https?:\/\/[^/?#]/i.test(url)) {
        piece = keep(anchor(url, escapeHtml(url)));
        lead = before;
        rest = after;
      }
    }
    if (piece === null) continue; // a bare address without a host: stays text
    text += escapeHtml(source.slice(last, m.index) + lead) + piece + escapeHtml(rest);
    last = m.index + whole.length;
  }
  text += escapeHtml(source.slice(last));
  return emphasis(text).replace(MARK, (m, i) => atoms[Number(i)]);
}

/** The note as HTML: safe to assign to innerHTML. */
export function renderMarkdown(source) {
  // NUL marks the cut-out parts while a line is worked on: none may come from the note.
  const lines = String(source ?? "").replace(/\u0000/g, "\uFFFD").replace(/\r\n?/g, "\n").split("\n");
  const out = [];
  let paragraph = [];
  let list = null; // "ul" | "ol"
  let fence = null;
  const flushParagraph = () => {
    if (paragraph.length) out.push(`<p>${paragraph.map((l) => inline(l)).join("<br>")}</p>`);
    paragraph = [];
  };
  const closeList = () => {
    if (list) out.push(`</${list}>`);
    list = null;
  };
  for (const line of lines) {
    if (fence !== null) {
      if (/^\s*```/.test(line)) {
        out.push(`<pre><code>${escapeHtml(fence.join("\n"))}</code></pre>`);
        fence = null;
      } else {
        fence.push(line);
      }
      continue;
    }
    if (/^\s*```/.test(line)) {
      flushParagraph();
      closeList();
      fence = [];
      continue;
    }
    const heading = line.match(/^(#{1,3})\s+(.*)$/);
    const bullet = line.match(/^\s*[-*]\s+(.*)$/);
    const numbered = line.match(/^\s*\d+[.)]\s+(.*)$/);
    if (heading) {
      flushParagraph();
      closeList();
      const level = heading[1].length + 3; // h4..h6: a note sits inside a card
      out.push(`<h${level}>${inline(heading[2])}</h${level}>`);
    } else if (bullet || numbered) {
      flushParagraph();
      const kind = bullet ? "ul" : "ol";
      if (list !== kind) {
        closeList();
        out.push(`<${kind}>`);
        list = kind;
      }
      out.push(`<li>${inline((bullet || numbered)[1])}</li>`);
    } else if (!line.trim()) {
      flushParagraph();
      closeList();
    } else {
      closeList();
      paragraph.push(line);
    }
  }
  if (fence !== null) out.push(`<pre><code>${escapeHtml(fence.join("\n"))}</code></pre>`);
  flushParagraph();
  closeList();
  return out.join("");
}
