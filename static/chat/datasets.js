// Datasets in the chat page: the composer's picker (which datasets this conversation
// searches), the [n] citation links in answers, and the panel that shows a cited passage.
// Passages are documents' text, untrusted: they are only ever set as textContent.
import { gettext, interpolate } from "../common/i18n.js";

// The picker. Its list is what the user may query now (GET /datasets/api/picker/); it is
// fetched again on every datasets.changed frame, so a revoked grant leaves the page at once.
export function createDatasetPicker({ root, chosen, onChange }) {
  const summary = root.querySelector("summary");
  const list = root.querySelector(".dataset-options");
  const status = root.querySelector(".dataset-status");
  let available = [];
  let selected = new Set(chosen || []);

  function label() {
    summary.textContent = selected.size
      ? interpolate(gettext("Datasets (%(count)s)"), { count: selected.size })
      : gettext("Datasets");
  }

  function draw() {
    list.replaceChildren();
    for (const dataset of available) {
      const item = document.createElement("label");
      item.className = "dataset-option";
      const box = document.createElement("input");
      box.type = "checkbox";
      box.value = String(dataset.id);
      box.checked = selected.has(dataset.id);
      box.addEventListener("change", () => {
        if (box.checked) selected.add(dataset.id);
        else selected.delete(dataset.id);
        label();
        onChange?.(ids());
      });
      const name = document.createElement("span");
      name.textContent = dataset.name;
      item.append(box, name);
      if (dataset.regions) {
        const regions = document.createElement("small");
        regions.textContent = ` ${interpolate(gettext("(only %(regions)s)"), { regions: dataset.regions.join(", ") })}`;
        item.append(regions);
      }
      list.append(item);
    }
    status.textContent = available.length ? "" : gettext("No dataset you may search.");
    label();
  }

  function ids() {
    return available.filter((d) => selected.has(d.id)).map((d) => d.id);
  }

  async function refresh() {
    try {
      const response = await fetch("/datasets/api/picker/", { credentials: "same-origin" });
      if (!response.ok) throw new Error(String(response.status));
      available = (await response.json()).datasets;
    } catch {
      status.textContent = gettext("Could not load the datasets.");
      return;
    }
    const before = selected.size;
    selected = new Set([...selected].filter((id) => available.some((d) => d.id === id)));
    draw();
    if (selected.size !== before) {
      status.textContent = gettext("A dataset you had chosen is no longer available to you.");
    }
  }

  function remove(gone) {
    for (const id of gone) selected.delete(id);
    draw();
  }

  // A popover: a click elsewhere or Esc closes it (Esc puts the keyboard back on it).
  document.addEventListener("click", (event) => {
    if (root.open && !root.contains(event.target)) root.open = false;
  });
  root.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && root.open) {
      event.preventDefault();
      root.open = false;
      summary.focus();
    }
  });

  draw();
  return { refresh, remove, ids };
}

// Turns "[2]" in an answer's text into a link to citation 2. Only text outside code is
// touched, and only numbers that are citations of this answer.
export function linkCitations(body, citations, open) {
  if (!citations || !citations.length) return;
  const byNumber = new Map(citations.map((c) => [c.n, c]));
  const walker = document.createTreeWalker(body, NodeFilter.SHOW_TEXT, {
    acceptNode: (node) =>
      node.parentElement.closest("code, pre, a") ? NodeFilter.FILTER_REJECT : NodeFilter.FILTER_ACCEPT,
  });
  const nodes = [];
  while (walker.nextNode()) {
    if (/\[\d+\]/.test(walker.currentNode.nodeValue)) nodes.push(walker.currentNode);
  }
  for (const node of nodes) {
    const parts = node.nodeValue.split(/(\[\d+\])/);
    const fragment = document.createDocumentFragment();
    for (const part of parts) {
      const match = /^\[(\d+)\]$/.exec(part);
      const citation = match && byNumber.get(Number(match[1]));
      if (!citation) {
        fragment.append(part);
        continue;
      }
      const link = document.createElement("a");
      link.href = `#passage-${citation.chunk}`;
      link.className = "citation";
      link.textContent = part;
      link.title = citation.title;
      link.addEventListener("click", (event) => {
        event.preventDefault();
        open(citation);
      });
      fragment.append(link);
    }
    node.replaceWith(fragment);
  }
}

// The passage panel: fetched when opened (the grant is checked then), shown as text.
export function createPassagePanel(panel) {
  const title = panel.querySelector(".passage-title");
  const text = panel.querySelector(".passage-text");
  const source = panel.querySelector(".passage-source");
  // Where in its document the passage is (title and headings), a small line above the text.
  const where = document.createElement("p");
  where.className = "passage-context";
  source.after(where);
  panel.querySelector(".passage-close").addEventListener("click", () => {
    panel.hidden = true;
  });

  return async function open(citation) {
    panel.hidden = false;
    title.textContent = citation.title || gettext("Passage");
    source.textContent = "";
    where.textContent = "";
    if (citation.attachment) {
      // A passage of one of the conversation's own attachments: what was cited, and the file.
      source.textContent =
        citation.chunk === null || citation.chunk === undefined
          ? gettext("Attached file")
          : interpolate(gettext("Attached file, part %(n)s"), { n: citation.chunk + 1 });
      text.textContent = citation.snippet || "";
      panel.querySelector(".passage-close").focus();
      return;
    }
    text.textContent = gettext("Loading…");
    let response;
    try {
      response = await fetch(`/datasets/api/chunks/${citation.chunk}/`, {
        credentials: "same-origin",
      });
    } catch {
      text.textContent = gettext("Could not load the passage: check the connection.");
      return;
    }
    if (!response.ok) {
      text.textContent =
        response.status === 404
          ? gettext("This passage is no longer available to you.")
          : gettext("Could not load the passage.");
      return;
    }
    const passage = await response.json();
    title.textContent = passage.title || citation.title;
    source.textContent = `${passage.dataset.name} · ${passage.key}`;
    where.textContent = passage.context || "";
    where.hidden = !passage.context;
    text.textContent = passage.text;
    panel.querySelector(".passage-close").focus();
  };
}
