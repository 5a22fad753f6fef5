// Model output is untrusted. It becomes HTML in three steps, each a barrier of its own:
// markdown-it with raw HTML off, every image rewritten to a link (or its alt text), then
// DOMPurify, which drops any image element left. Rendered content loads no image at all: an
// image URL, even our own (`![x](/datasets/1/export.zip)`), would make every reader's browser
// fetch it with their cookie. The CSP (img-src only the static files and data:, no inline
// script or style) is the last net.
// LaTeX ($…$, $$…$$, \(…\), \[…\]) is typeset by KaTeX as MathML only: its HTML output
// needs inline styles, which the CSP forbids; Chromium and Firefox draw MathML natively.
// KaTeX is most of the page's weight and most answers hold no math: it is loaded the first
// time a text needs it (its address in <meta name="katex-src">), and the texts rendered
// meanwhile, with their TeX as code, are rendered again once it is there.
import { gettext, interpolate } from "../common/i18n.js";

const PURIFY_CONFIG = {
  USE_PROFILES: { html: true, mathMl: true },
  // KaTeX's TeX source annotation would show as text where MathML semantics is dropped.
  // Nothing that fetches on its own: images, media, embedded documents.
  FORBID_TAGS: [
    "style", "form", "input", "button", "textarea", "select", "annotation",
    "img", "picture", "source", "video", "audio", "track", "image", "iframe", "object", "embed",
  ],
  ADD_FORBID_CONTENTS: ["annotation"],
  FORBID_ATTR: ["style", "srcset", "poster", "background"], // styles would trip the CSP
};
const LINK_PROTOCOLS = new Set(["http:", "https:", "mailto:"]);

function escapeHtml(text) {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function linkAllowed(href) {
  try {
    return LINK_PROTOCOLS.has(new URL(href, window.location.href).protocol);
  } catch {
    return false;
  }
}

let purifyReady = false;

function setUpPurify(purify) {
  if (purifyReady) return;
  purifyReady = true;
  purify.addHook("afterSanitizeAttributes", (node) => {
    if (node.tagName === "A" && node.hasAttribute("href")) {
      if (!linkAllowed(node.getAttribute("href"))) {
        node.removeAttribute("href");
      } else {
        node.setAttribute("target", "_blank");
        node.setAttribute("rel", "noopener noreferrer nofollow");
      }
    }
  });
}

let katexWanted = false;
let katexLoading = null;

function loadKatex() {
  if (katexLoading) return katexLoading;
  const source = document.querySelector('meta[name="katex-src"]')?.content;
  if (!source) return Promise.resolve(false);
  katexLoading = new Promise((resolve) => {
    const script = document.createElement("script");
    script.src = source;
    script.onload = () => resolve(true);
    script.onerror = () => resolve(false); // the TeX stays readable as code
    document.head.append(script);
  });
  return katexLoading;
}

function typeset(tex, displayMode) {
  const katex = window.katex;
  if (!katex) {
    katexWanted = true;
    return `<code>${escapeHtml(tex)}</code>`;
  }
  try {
    const html = katex.renderToString(tex, {
      displayMode,
      output: "mathml",
      throwOnError: true, // KaTeX's own error output carries an inline style
      trust: false, // no \href, \url or \includegraphics from model output
      maxSize: 50,
      maxExpand: 1000,
    });
    // Even a style attribute that only passes through the sanitiser's parser is reported
    // as a CSP violation: none may reach it.
    return html.replace(/\sstyle="[^"]*"/g, "");
  } catch {
    return `<code class="math-error">${escapeHtml(tex)}</code>`;
  }
}

// $…$ and \(…\) inline. A "$" opens only before a non-space and closes only after one and
// not before a digit, so "costs $5 and $10" stays text.
function mathInline(state, silent) {
  const src = state.src;
  const start = state.pos;
  let open;
  let close;
  if (src.startsWith("\\(", start)) {
    open = 2;
    close = src.indexOf("\\)", start + 2);
  } else if (src[start] === "$" && src[start + 1] !== "$") {
    open = 1;
    if (/\s/.test(src[start + 1] || " ")) return false;
    close = start + 1;
    for (;;) {
      close = src.indexOf("$", close);
      if (close === -1) break;
      if (src[close - 1] !== "\\" && !/\s/.test(src[close - 1])) break;
      close += 1;
    }
    if (close !== -1 && /\d/.test(src[close + 1] || "")) return false;
  } else if (src.startsWith("$$", start)) {
    open = 2;
    close = src.indexOf("$$", start + 2);
  } else {
    return false;
  }
  if (close === -1 || close === start + open) return false;
  if (!silent) {
    const token = state.push(open === 2 && src[start] === "$" ? "math_display" : "math_inline", "", 0);
    token.content = src.slice(start + open, close);
  }
  state.pos = close + open;
  return true;
}

// $$ or \[ on a line of its own opens a display block, closed by $$ or \].
function mathBlock(state, startLine, endLine, silent) {
  const lineText = (n) => state.src.slice(state.bMarks[n] + state.tShift[n], state.eMarks[n]);
  const first = lineText(startLine);
  const opener = first.startsWith("$$") ? "$$" : first.startsWith("\\[") ? "\\[" : null;
  if (!opener) return false;
  const closer = opener === "$$" ? "$$" : "\\]";
  const rest = first.slice(2);
  let content;
  let next = startLine;
  if (rest.trimEnd().endsWith(closer) && rest.trim().length >= closer.length) {
    content = rest.trimEnd().slice(0, -closer.length);
  } else {
    const lines = [rest];
    let found = false;
    while (++next < endLine) {
      const text = lineText(next);
      if (text.trimEnd().endsWith(closer)) {
        lines.push(text.trimEnd().slice(0, -closer.length));
        found = true;
        break;
      }
      lines.push(text);
    }
    if (!found) return false;
    content = lines.join("\n");
  }
  if (silent) return true;
  const token = state.push("math_display", "", 0);
  token.content = content;
  token.map = [startLine, next + 1];
  token.block = true;
  state.line = next + 1;
  return true;
}

function createMarkdownIt() {
  const hljs = window.hljs;
  const md = window.markdownit({
    html: false,
    linkify: true,
    typographer: false,
    highlight(code, lang) {
      if (!hljs) return "";
      const language = lang && hljs.getLanguage(lang) ? lang : null;
      const value = language
        ? hljs.highlight(code, { language, ignoreIllegals: true }).value
        : hljs.highlightAuto(code).value;
      return `<pre><code class="hljs">${value}</code></pre>`;
    },
  });
  // Before "escape", which would take the backslash of \( for itself.
  md.inline.ruler.before("escape", "math_inline", mathInline);
  md.block.ruler.after("blockquote", "math_block", mathBlock, {
    alt: ["paragraph", "reference", "blockquote", "list"],
  });
  md.renderer.rules.math_inline = (tokens, idx) => typeset(tokens[idx].content, false);
  md.renderer.rules.math_display = (tokens, idx) =>
    `<div class="math-display">${typeset(tokens[idx].content, true)}</div>`;
  md.renderer.rules.image = (tokens, idx, options, env, self) => {
    // No image is shown (see the top of this file): its alt text, linked to its address
    // for a person who chooses to open it. Only http(s) addresses stay links (the hook).
    const token = tokens[idx];
    const src = token.attrGet("src") || "";
    const alt = self.renderInlineAsText(token.children || [], options, env) || gettext("image");
    const title = escapeHtml(gettext("Image not shown"));
    const text = escapeHtml(interpolate(gettext("[image: %(alt)s]"), { alt }));
    return `<a href="${escapeHtml(src)}" class="blocked-image" title="${title}">${text}</a>`;
  };
  return md;
}

let md = null;

// Returns a function that puts the markdown ``text`` into ``element``, sanitised. Without
// the vendored libraries (not installed yet) it shows plain text, which is always safe.
export function createRenderer() {
  if (!window.markdownit || !window.DOMPurify) {
    return (element, text) => {
      element.textContent = text;
    };
  }
  setUpPurify(window.DOMPurify);
  md = md || createMarkdownIt();
  // What each element shows, and the elements whose math waits for KaTeX.
  const shown = new WeakMap();
  const waiting = new Set();
  const put = (element, text) => {
    katexWanted = false;
    element.innerHTML = window.DOMPurify.sanitize(md.render(text), PURIFY_CONFIG);
    shown.set(element, text);
    if (!katexWanted) return;
    waiting.add(element);
    loadKatex().then((loaded) => {
      if (!loaded || !window.katex) return;
      for (const pending of [...waiting]) {
        waiting.delete(pending);
        // Unless it left the page, or shows another text by now (rendered with KaTeX).
        if (pending.isConnected && shown.has(pending)) put(pending, shown.get(pending));
      }
    });
  };
  return put;
}
