// The prompt form's live preview (templates/prompts/form.html): as the text is typed, the
// variables found in it, each with its default, and the text with its variables marked.
// The server parses it (prompts/template.py, through /prompts/api/preview/): one parser, the
// one the composer's insertion uses too. Text is put on the page as text, never as HTML.
import { gettext, interpolate } from "../common/i18n.js";

const form = document.getElementById("prompt-form");
const body = document.getElementById("id_body");
const list = document.getElementById("preview-variables");
const none = document.getElementById("preview-none");
const text = document.getElementById("preview-text");
const bodyError = document.getElementById("body-error");
const WAIT_MS = 200;

let timer = 0;
let pending = null;

function show(preview) {
  list.replaceChildren(
    ...preview.variables.map((variable) => {
      const item = document.createElement("li");
      const name = document.createElement("span");
      name.className = "var-name";
      name.textContent = variable.name;
      const rest = document.createElement("span");
      rest.className = "var-default";
      const note =
        variable.default === null
          ? gettext("to fill in")
          : variable.default === ""
            ? gettext("may stay empty")
            : interpolate(gettext("default: %(value)s"), { value: variable.default });
      rest.textContent = ` (${note})`;
      item.append(name, rest);
      return item;
    }),
  );
  none.hidden = preview.variables.length > 0;
  text.replaceChildren(
    ...preview.parts.map((part) => {
      if (typeof part === "string") return document.createTextNode(part);
      const mark = document.createElement("mark");
      mark.textContent = part.var;
      return mark;
    }),
  );
  if (preview.variables.length === 0) text.replaceChildren();
  // Only the text's own problem: the other fields say theirs when the form is saved.
  bodyError.textContent = body.value.trim() ? preview.errors.body || "" : "";
  body.setAttribute("aria-invalid", String(Boolean(bodyError.textContent)));
}

async function refresh() {
  pending?.abort();
  pending = new AbortController();
  try {
    const answer = await fetch(form.dataset.previewUrl, {
      method: "POST",
      signal: pending.signal,
      headers: {
        "Content-Type": "application/json",
        "X-CSRFToken": form.querySelector("input[name=csrfmiddlewaretoken]").value,
      },
      body: JSON.stringify({ body: body.value }),
    });
    if (answer.ok) show(await answer.json());
  } catch (error) {
    if (error.name !== "AbortError") bodyError.textContent = gettext("The preview could not be updated.");
  }
}

if (form && body) {
  body.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(refresh, WAIT_MS);
  });
  refresh();
}
