// Saved prompts in the message box (docs/chat.md, "Prompt library"). Typing "/" at the start
// of the box or after a space opens a list of the prompts that match what follows it; one
// with variables opens a small form (a field per variable, defaults filled in), one without
// is inserted at once. The inserted text replaces the "/query".
//
// ARIA: the combobox pattern with a listbox. The message box keeps its textbox role while
// the list is closed (the page and its tests know it by that role) and is a combobox, with
// aria-expanded, aria-controls and aria-activedescendant, while the list is open; focus
// stays in the box and the arrows move the active option.
//
// Keys are caught on the composer <form>, capturing, so they are ours before chat.js's own
// listeners see them: Enter picks an option instead of sending, Escape closes the list
// instead of stopping an answer.
//
// The server parses the prompt's text (prompts/template.py) and sends it as `parts` (text
// and {"var": name}) and `variables` ({name, default}); this only puts the values in. Titles
// and texts are put on the page as text, never as HTML.
import { gettext, interpolate } from "../common/i18n.js";

const form = document.getElementById("composer");
const input = document.getElementById("composer-input");
const listUrl = form?.dataset.promptsUrl;

const TRIGGER = /(^|\s)\/([^\s/]*)$/;
const WAIT_MS = 120;

let popup = null;
let listbox = null;
let options = []; // the prompts shown, in order
let active = -1;
let start = -1; // where the "/" is in the box
let query = null; // what follows it; null while the list is closed
let fetching = null;
let timer = 0;
let filling = null; // the prompt whose variables are being filled in
let loading = false; // the list for the current "/query" is on its way
let inserting = false; // our own "input" event after an insertion
let pickFirst = false; // Enter came before it: pick its first prompt when it arrives

function build() {
  popup = document.createElement("div");
  popup.className = "prompt-popup";
  popup.id = "prompt-popup";
  popup.hidden = true;
  listbox = document.createElement("ul");
  listbox.id = "prompt-options";
  listbox.className = "prompt-options";
  listbox.setAttribute("role", "listbox");
  listbox.setAttribute("aria-label", gettext("Saved prompts"));
  popup.append(listbox);
  form.append(popup);
  // Pressed, not clicked: the box keeps its focus (and caret) while an option is chosen.
  listbox.addEventListener("mousedown", (event) => event.preventDefault());
  listbox.addEventListener("click", (event) => {
    const item = event.target.closest("[role=option]");
    if (item) choose(Number(item.dataset.index));
  });
}

function setExpanded(open) {
  if (open) {
    input.setAttribute("role", "combobox");
    input.setAttribute("aria-expanded", "true");
    input.setAttribute("aria-controls", listbox.id);
    input.setAttribute("aria-autocomplete", "list");
  } else {
    for (const name of ["role", "aria-expanded", "aria-controls", "aria-autocomplete", "aria-activedescendant"]) {
      input.removeAttribute(name);
    }
  }
}

function close() {
  query = null;
  filling = null;
  loading = false;
  pickFirst = false;
  options = [];
  active = -1;
  clearTimeout(timer);
  fetching?.abort();
  if (!popup) return;
  popup.hidden = true;
  popup.querySelector(".prompt-fill")?.remove();
  popup.querySelector(".prompt-empty")?.remove();
  listbox.hidden = false;
  listbox.replaceChildren();
  setExpanded(false);
}

function sourceLabel(prompt) {
  if (prompt.source === "organisation") return gettext("organisation");
  if (prompt.source === "shared") return interpolate(gettext("shared by %(who)s"), { who: prompt.shared_by });
  return "";
}

function setActive(index) {
  active = index;
  for (const [i, item] of [...listbox.children].entries()) {
    item.setAttribute("aria-selected", String(i === index));
  }
  const item = listbox.children[index];
  if (item) {
    input.setAttribute("aria-activedescendant", item.id);
    item.scrollIntoView({ block: "nearest" });
  } else {
    input.removeAttribute("aria-activedescendant");
  }
}

function render(prompts) {
  options = prompts;
  popup.querySelector(".prompt-empty")?.remove();
  listbox.replaceChildren(
    ...prompts.map((prompt, index) => {
      const item = document.createElement("li");
      item.id = `prompt-option-${index}`;
      item.className = "prompt-option";
      item.setAttribute("role", "option");
      item.dataset.index = String(index);
      const command = document.createElement("span");
      command.className = "prompt-command";
      command.textContent = `/${prompt.command}`;
      const title = document.createElement("span");
      title.className = "prompt-title";
      title.textContent = prompt.title;
      item.append(command, title);
      const label = sourceLabel(prompt);
      if (label) {
        const source = document.createElement("span");
        source.className = "prompt-source";
        source.textContent = label;
        item.append(source);
      }
      return item;
    }),
  );
  if (!prompts.length) {
    const empty = document.createElement("p");
    empty.className = "prompt-empty";
    empty.setAttribute("role", "status");
    empty.textContent = interpolate(gettext("No saved prompt matches “/%(query)s”."), { query });
    popup.append(empty);
  }
  popup.hidden = false;
  setExpanded(true);
  setActive(prompts.length ? 0 : -1);
}

async function search(text) {
  fetching?.abort();
  fetching = new AbortController();
  try {
    const answer = await fetch(`${listUrl}?q=${encodeURIComponent(text)}`, {
      signal: fetching.signal,
      headers: { Accept: "application/json" },
    });
    if (!answer.ok) throw new Error(String(answer.status));
    const body = await answer.json();
    if (query !== text || filling) return;
    loading = false;
    render(body.prompts);
    if (pickFirst && body.prompts.length) choose(0);
    pickFirst = false;
  } catch (error) {
    if (error.name !== "AbortError") close();
  }
}

// The "/query" just before the caret, or null.
function trigger() {
  if (input.selectionStart !== input.selectionEnd) return null;
  const before = input.value.slice(0, input.selectionStart);
  const match = TRIGGER.exec(before);
  if (!match) return null;
  return { start: match.index + match[1].length, text: match[2] };
}

function onInput() {
  if (filling || inserting) return;
  const found = trigger();
  if (!found) {
    if (query !== null) close();
    return;
  }
  start = found.start;
  query = found.text;
  loading = true;
  clearTimeout(timer);
  timer = setTimeout(() => search(found.text), WAIT_MS);
}

function insert(text) {
  const end = input.selectionStart >= start ? input.selectionStart : start + (query ?? "").length + 1;
  const value = input.value;
  input.value = value.slice(0, start) + text + value.slice(end);
  close();
  const caret = start + text.length;
  input.focus();
  input.setSelectionRange(caret, caret);
  // chat.js sizes the box on "input"; ours must not read the inserted text as a "/query".
  inserting = true;
  input.dispatchEvent(new Event("input"));
  inserting = false;
}

function fill(prompt, values) {
  return prompt.parts.map((part) => (typeof part === "string" ? part : values[part.var] ?? "")).join("");
}

function choose(index) {
  const prompt = options[index];
  if (!prompt) return;
  if (!prompt.variables.length) {
    insert(fill(prompt, {}));
    return;
  }
  openForm(prompt);
}

// A <div>, not a <form>: it sits inside the composer's form, and forms do not nest. Enter in
// a field is caught so that it inserts rather than submitting the composer.
function openForm(prompt) {
  filling = prompt;
  clearTimeout(timer);
  fetching?.abort();
  listbox.hidden = true;
  popup.querySelector(".prompt-empty")?.remove();
  setExpanded(false);
  const box = document.createElement("div");
  box.className = "prompt-fill";
  box.setAttribute("role", "group");
  const heading = document.createElement("h2");
  heading.id = "prompt-fill-heading";
  heading.textContent = interpolate(gettext("Fill in /%(command)s"), { command: prompt.command });
  box.setAttribute("aria-labelledby", heading.id);
  box.append(heading);
  const fields = prompt.variables.map((variable, index) => {
    const label = document.createElement("label");
    const name = document.createElement("span");
    name.textContent = variable.name;
    const field = document.createElement("input");
    field.id = `prompt-var-${index}`;
    field.name = variable.name;
    field.value = variable.default ?? "";
    field.required = variable.default === null;
    field.autocomplete = "off";
    label.append(name, field);
    box.append(label);
    return field;
  });
  const error = document.createElement("p");
  error.className = "field-error";
  error.setAttribute("role", "alert");
  const buttons = document.createElement("div");
  buttons.className = "fill-buttons";
  const cancel = document.createElement("button");
  cancel.type = "button";
  cancel.textContent = gettext("Cancel");
  const ok = document.createElement("button");
  ok.type = "button";
  ok.className = "primary";
  ok.textContent = gettext("Insert");
  buttons.append(cancel, ok);
  box.append(error, buttons);
  popup.append(box);
  popup.hidden = false;

  const done = () => {
    const empty = fields.find((field) => field.required && !field.value.trim());
    if (empty) {
      empty.setAttribute("aria-invalid", "true");
      error.textContent = interpolate(gettext("Fill in “%(name)s”."), { name: empty.name });
      empty.focus();
      return;
    }
    insert(fill(prompt, Object.fromEntries(fields.map((field) => [field.name, field.value]))));
  };
  const cancelled = () => {
    close();
    input.focus();
  };
  ok.addEventListener("click", done);
  cancel.addEventListener("click", cancelled);
  box.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && event.target.tagName === "INPUT" && !event.isComposing) {
      event.preventDefault();
      event.stopPropagation();
      done();
    } else if (event.key === "Escape") {
      event.preventDefault();
      event.stopPropagation();
      cancelled();
    }
  });
  fields[0].focus();
  fields[0].select();
}

function onKey(event) {
  if (query === null || filling || event.target !== input) return;
  if (loading && event.key === "Enter" && !event.shiftKey && !event.isComposing) {
    // Typed "/name" and Enter faster than the list came: Enter waits for it and picks its
    // first prompt, rather than sending "/name" as the message. With no match it sends
    // nothing; a second Enter sends the text as it is.
    pickFirst = true;
    event.preventDefault();
    event.stopPropagation();
    return;
  }
  if (popup.hidden) {
    if (event.key === "Escape" && loading) close();
    return;
  }
  const count = options.length;
  let handled = true;
  if (event.key === "ArrowDown" && count) setActive((active + 1) % count);
  else if (event.key === "ArrowUp" && count) setActive((active - 1 + count) % count);
  else if (event.key === "Enter" && !event.shiftKey && !event.isComposing && active >= 0) choose(active);
  else if (event.key === "Escape") close();
  else if (event.key === "Enter" && !event.shiftKey) {
    close(); // nothing to pick: the message is sent as typed (chat.js), without the list
    handled = false;
  } else handled = false;
  if (handled) {
    event.preventDefault();
    event.stopPropagation();
  }
}

if (form && input && listUrl) {
  build();
  input.addEventListener("input", onInput);
  input.addEventListener("click", onInput); // the caret moved into or out of a "/query"
  form.addEventListener("keydown", onKey, true);
  // Back in the box while a prompt's form is open: the form is given up, so Enter there sends
  // what the box holds rather than leaving a form behind it.
  input.addEventListener("focus", () => {
    if (filling) close();
  });
  input.addEventListener("blur", () => {
    // Focus gone elsewhere than the list or the form over it: the list is not wanted.
    setTimeout(() => {
      if (!filling && !popup.contains(document.activeElement) && document.activeElement !== input) close();
    }, 0);
  });
  document.addEventListener("click", (event) => {
    if (query !== null || filling) {
      if (!popup.contains(event.target) && event.target !== input) close();
    }
  });
}
