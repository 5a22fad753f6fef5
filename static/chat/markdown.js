// Model output is untrusted. It becomes HTML in three steps, each a barrier of its own:
// markdown-it with raw HTML off, images rewritten to links unless same-origin or data:,
// then DOMPurify. The CSP (img-src 'self' data:, no inline script) is the last net.

const PURIFY_CONFIG = {
  USE_PROFILES: { html: true },
  FORBID_TAGS: ["style", "form", "input", "button", "textarea", "select"],
  FORBID_ATTR: ["style"], // inline styles would only trip the CSP
};

function escapeHtml(text) {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

// An image may load only from this origin or inline data: no tracking beacons, no leaks.
function imageAllowed(src) {
  if (!src) return false;
  if (/^data:image\//i.test(src)) return true;
  try {
    return new URL(src, window.location.href).origin === window.location.origin;
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
      node.setAttribute("target", "_blank");
      node.setAttribute("rel", "noopener noreferrer nofollow");
    }
    // Second line of defence: markdown-it already turned such images into links.
    if (node.tagName === "IMG" && !imageAllowed(node.getAttribute("src"))) {
      node.removeAttribute("src");
      node.removeAttribute("srcset");
    }
  });
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
  const renderImage = md.renderer.rules.image;
  md.renderer.rules.image = (tokens, idx, options, env, self) => {
    const token = tokens[idx];
    const src = token.attrGet("src") || "";
    if (imageAllowed(src)) return renderImage(tokens, idx, options, env, self);
    const label = escapeHtml(token.content || "image");
    return `<a href="${escapeHtml(src)}" class="blocked-image">[image: ${label}]</a>`;
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
  return (element, text) => {
    element.innerHTML = window.DOMPurify.sanitize(md.render(text), PURIFY_CONFIG);
  };
}
