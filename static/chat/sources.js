// The sources of an answer that searched datasets (or cited the conversation's attachments),
// listed under it whether or not the model wrote [n] in its text: a reader can always see
// what it was given. Each source opens in place to show the passage the model read, kept on
// the answer (chat/services/retrieval.py), so it shows after a reload, on a shared link and
// in the exports alike. Titles and passages are documents' text, untrusted: set as
// textContent only, and only http(s) addresses become links.
import { gettext, interpolate } from "../common/i18n.js";

// `open` shows the passage in the page's panel (fetched, grant checked): for answers saved
// before the passage was kept on them. Pages without the panel (a shared link) pass null.
export function paintSources(el, citations, open) {
  let box = el.querySelector(".sources");
  if (!citations || !citations.length) {
    box?.remove();
    return;
  }
  // The answer is painted again on every delta: rebuilt, an opened source would close.
  const key = JSON.stringify(citations);
  if (box?.dataset.key === key) return;
  if (!box) {
    box = document.createElement("section");
    box.className = "sources";
    const heading = document.createElement("h3");
    heading.textContent = gettext("Sources");
    box.append(heading, document.createElement("ol"));
    const meta = el.querySelector(".meta");
    if (meta) meta.before(box);
    else el.append(box);
    box.setAttribute("aria-label", gettext("Sources of this answer"));
  }
  box.dataset.key = key;
  box.querySelector("ol").replaceChildren(...citations.map((c) => sourceItem(c, open)));
}

function sourceItem(citation, open) {
  const item = document.createElement("li");
  item.value = citation.n;
  const details = document.createElement("details");
  details.className = "source";
  const summary = document.createElement("summary");
  const title = document.createElement("span");
  title.className = "source-title";
  title.textContent =
    citation.title || citation.key || interpolate(gettext("Passage %(n)s"), { n: citation.n });
  summary.append(title);
  const from = citation.attachment ? gettext("Attached file") : citation.dataset_name;
  if (from) {
    const where = document.createElement("span");
    where.className = "source-dataset";
    where.textContent = from;
    summary.append(" · ", where);
  }
  details.append(summary, sourceBody(citation, open));
  item.append(details);
  return item;
}

function sourceBody(citation, open) {
  const body = document.createElement("div");
  body.className = "source-body";
  const place = [citation.attachment ? "" : citation.key, citation.context].filter(Boolean);
  if (place.length) {
    const where = document.createElement("p");
    where.className = "source-where";
    where.textContent = place.join(" · ");
    body.append(where);
  }
  const passage = citation.passage || citation.snippet;
  if (passage) {
    const text = document.createElement("blockquote");
    text.className = "source-passage";
    text.textContent = passage;
    body.append(text);
  }
  const actions = document.createElement("p");
  actions.className = "source-actions";
  if (/^https?:\/\//i.test(citation.url || "")) {
    const link = document.createElement("a");
    link.href = citation.url;
    link.target = "_blank";
    link.rel = "noopener noreferrer nofollow";
    link.textContent = gettext("Open the document");
    actions.append(link);
  }
  if (!citation.passage && !citation.attachment && open) {
    const show = document.createElement("button");
    show.type = "button";
    show.className = "link-button";
    show.textContent = gettext("Show the whole passage");
    show.addEventListener("click", () => open(citation));
    actions.append(show);
  }
  if (actions.childElementCount) body.append(actions);
  return body;
}
