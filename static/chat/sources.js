// The sources of an answer that searched datasets, listed under it whether or not the model
// wrote [n] in its text: a reader can always see what it was given, and open each passage.
// Titles are documents' text, untrusted: set as textContent only.
import { gettext, interpolate } from "../common/i18n.js";

export function paintSources(el, citations, open) {
  let box = el.querySelector(".sources");
  if (!citations || !citations.length) {
    box?.remove();
    return;
  }
  if (!box) {
    box = document.createElement("section");
    box.className = "sources";
    const heading = document.createElement("h3");
    heading.textContent = gettext("Sources");
    box.append(heading, document.createElement("ol"));
    el.querySelector(".meta").before(box);
    box.setAttribute("aria-label", gettext("Sources of this answer"));
  }
  const items = citations.map((citation) => {
    const item = document.createElement("li");
    item.value = citation.n;
    const link = document.createElement("a");
    link.href = `#passage-${citation.chunk}`;
    link.className = "source-link";
    link.textContent =
      citation.title || citation.key || interpolate(gettext("Passage %(n)s"), { n: citation.n });
    link.addEventListener("click", (event) => {
      event.preventDefault();
      open(citation);
    });
    item.append(link);
    return item;
  });
  box.querySelector("ol").replaceChildren(...items);
}
