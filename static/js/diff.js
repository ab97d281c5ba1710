// A small diff of two texts (longest common subsequence), by words or by lines.
// Whitespace is kept as its own token, so joining the pieces gives back either text.

const MAX_CELLS = 4_000_000; // beyond this the table costs too much: show it as replaced whole

export function tokens(text, by = "word") {
  const source = String(text ?? "");
  if (by === "line") return source.match(/[^\n]*\n|[^\n]+$/g) || [];
  return source.match(/\s+|[^\s]+/g) || [];
}

/** [{op: "same" | "add" | "del", text}], neighbours of one op merged. */
export function diff(before, after, by = "word") {
  const a = tokens(before, by);
  const b = tokens(after, by);
  // Common head and tail need no table.
  let head = 0;
  while (head < a.length && head < b.length && a[head] === b[head]) head += 1;
  let tail = 0;
  while (tail < a.length - head && tail < b.length - head && a[a.length - 1 - tail] === b[b.length - 1 - tail]) tail += 1;
  const midA = a.slice(head, a.length - tail);
  const midB = b.slice(head, b.length - tail);
  const parts = a.slice(0, head).map((text) => ({ op: "same", text }));
  parts.push(...middle(midA, midB));
  parts.push(...a.slice(a.length - tail).map((text) => ({ op: "same", text })));
  return merge(parts);
}

function middle(a, b) {
  if (!a.length || !b.length || (a.length + 1) * (b.length + 1) > MAX_CELLS) {
    return [...a.map((text) => ({ op: "del", text })), ...b.map((text) => ({ op: "add", text }))];
  }
  // lcs[i][j]: length of the longest common subsequence of a[i:] and b[j:].
  const width = b.length + 1;
  const lcs = new Uint32Array((a.length + 1) * width);
  for (let i = a.length - 1; i >= 0; i -= 1) {
    for (let j = b.length - 1; j >= 0; j -= 1) {
      lcs[i * width + j] = a[i] === b[j]
        ? lcs[(i + 1) * width + j + 1] + 1
        : Math.max(lcs[(i + 1) * width + j], lcs[i * width + j + 1]);
    }
  }
  const parts = [];
  let i = 0;
  let j = 0;
  while (i < a.length && j < b.length) {
    if (a[i] === b[j]) {
      parts.push({ op: "same", text: a[i] });
      i += 1;
      j += 1;
    } else if (lcs[(i + 1) * width + j] >= lcs[i * width + j + 1]) {
      parts.push({ op: "del", text: a[i++] });
    } else {
      parts.push({ op: "add", text: b[j++] });
    }
  }
  while (i < a.length) parts.push({ op: "del", text: a[i++] });
  while (j < b.length) parts.push({ op: "add", text: b[j++] });
  return parts;
}

function merge(parts) {
  const out = [];
  for (const part of parts) {
    const last = out[out.length - 1];
    if (last && last.op === part.op) last.text += part.text;
    else out.push({ ...part });
  }
  return out;
}
