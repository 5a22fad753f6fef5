// Assistants on the chat page: the picker on the empty screen (cards with icon, name and
// description; the picked one's starter prompts as buttons), and the header's badge naming
// the assistant a conversation started from. The list is what the person may use now
// (GET /assistants/api/). Names, descriptions and prompts are people's text: only ever set
// as textContent.
import { gettext } from "../common/i18n.js";

function iconElement(assistant) {
  const icon = document.createElement("span");
  icon.className = "assistant-icon";
  icon.dataset.colour = assistant.colour;
  icon.setAttribute("aria-hidden", "true");
  icon.textContent = assistant.icon;
  return icon;
}

// ``conversation``: the page's conversation (null on a new chat: only then is there a
// picker). ``onStarter(text)``: a starter prompt was clicked, to be sent as the message.
export function createAssistantPicker({ conversation, onStarter }) {
  const root = document.getElementById("assistant-picker");
  const badge = document.getElementById("assistant-badge");
  let available = [];
  let chosen = null;
  // "Start a chat with it" on the assistants page links here with ?assistant=ID.
  const wanted = Number(new URLSearchParams(location.search).get("assistant")) || null;

  function paintBadge() {
    badge.replaceChildren();
    badge.hidden = chosen === null;
    if (chosen === null) return;
    const name = document.createElement("span");
    name.className = "assistant-badge-name";
    name.textContent = chosen.name;
    badge.append(iconElement(chosen), name);
    badge.title = chosen.name;
  }

  function draw() {
    root.replaceChildren();
    if (!available.length) {
      root.hidden = true;
      return;
    }
    const heading = document.createElement("h2");
    heading.id = "assistant-picker-title";
    heading.textContent = gettext("Start from an assistant");
    const cards = document.createElement("ul");
    cards.className = "assistant-cards";
    cards.setAttribute("aria-labelledby", heading.id);
    for (const assistant of available) {
      const item = document.createElement("li");
      const card = document.createElement("button");
      card.type = "button";
      card.className = "assistant-card";
      card.dataset.id = String(assistant.id);
      card.setAttribute("aria-pressed", String(chosen?.id === assistant.id));
      const text = document.createElement("span");
      text.className = "assistant-card-text";
      const name = document.createElement("strong");
      name.textContent = assistant.name;
      text.append(name);
      if (assistant.description) {
        const description = document.createElement("small");
        description.textContent = assistant.description;
        text.append(description);
      }
      card.append(iconElement(assistant), text);
      // A second click on the picked one puts it back: a plain chat again.
      card.addEventListener("click", () => pick(chosen?.id === assistant.id ? null : assistant));
      item.append(card);
      cards.append(item);
    }
    root.append(heading, cards);
    if (chosen && chosen.starter_prompts.length) {
      const starters = document.createElement("ul");
      starters.className = "assistant-starters";
      starters.setAttribute("aria-label", gettext("Starter prompts"));
      for (const prompt of chosen.starter_prompts) {
        const item = document.createElement("li");
        const starter = document.createElement("button");
        starter.type = "button";
        starter.className = "assistant-starter";
        starter.textContent = prompt;
        starter.addEventListener("click", () => onStarter(prompt));
        item.append(starter);
        starters.append(item);
      }
      root.append(starters);
    }
    const manage = document.createElement("p");
    manage.className = "assistant-manage";
    const link = document.createElement("a");
    link.href = "/assistants/";
    link.textContent = gettext("Manage assistants");
    manage.append(link);
    root.append(manage);
    root.hidden = false;
  }

  function pick(assistant) {
    chosen = assistant;
    draw();
    paintBadge();
    root.querySelector(`.assistant-card[data-id="${chosen?.id}"]`)?.focus();
  }

  async function refresh() {
    try {
      const response = await fetch("/assistants/api/", { credentials: "same-origin" });
      if (!response.ok) throw new Error(String(response.status));
      available = (await response.json()).assistants;
    } catch {
      available = [];
    }
    if (chosen) chosen = available.find((a) => a.id === chosen.id) || null;
    else if (wanted) chosen = available.find((a) => a.id === wanted) || null;
    draw();
    paintBadge();
  }

  // An existing conversation: the badge is the server's, and there is nothing to pick.
  if (!conversation) refresh();

  return {
    // The assistant to start the new conversation from (its id), or null.
    chosen: () => (conversation ? null : (chosen?.id ?? null)),
    // The first message is on its way: the picker makes room for the conversation.
    hide() {
      root.hidden = true;
    },
    // The conversation exists now: it keeps its assistant, shown in the header.
    started(created) {
      conversation = created;
      root.hidden = true;
    },
    // The first message was refused (the assistant is no longer available, say): pick again.
    reopen() {
      if (conversation) return;
      refresh();
    },
  };
}
