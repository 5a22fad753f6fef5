// The conversation list: grouped by day, pinned first, loaded page by page; search as you
// type; rename, pin and delete (with undo); the mobile drawer; and the header's share and
// export controls. Titles are untrusted text: they only ever go in through textContent.
import { gettext, interpolate, ngettext, pageLanguage } from "../common/i18n.js";
import { setUpShare } from "./share_controls.js";

const SEARCH_DELAY_MS = 250;
const chatData = JSON.parse(document.getElementById("chat-data").textContent);
const sidebarData = JSON.parse(document.getElementById("sidebar-data").textContent);

const app = document.querySelector(".app");
const sidebar = document.getElementById("sidebar");
const listEl = document.getElementById("conversation-list");
const resultsEl = document.getElementById("search-results");
const scrollEl = document.getElementById("conversation-scroll");
const moreButton = document.getElementById("load-more");
const searchInput = document.getElementById("conversation-search");
const statusEl = document.getElementById("sidebar-status");
const undoBar = document.getElementById("undo-bar");
const undoText = document.getElementById("undo-text");
const undoButton = document.getElementById("undo-button");
const titleEl = document.getElementById("chat-title");

const conversations = new Map(); // id -> payload {id, title, pinned, updated_at, url}
let currentId = chatData.conversation ? chatData.conversation.id : null;
let nextCursor = sidebarData.next;
let loading = false;

// --- Talking to the server --------------------------------------------------------------

function csrfToken() {
  return document.querySelector("input[name=csrfmiddlewaretoken]")?.value || "";
}

// Returns {ok, status, data}; a network failure is {ok: false, status: 0}.
export async function api(path, { body, signal } = {}) {
  const init = { headers: { Accept: "application/json" }, credentials: "same-origin", signal };
  if (body !== undefined) {
    init.method = "POST";
    init.headers["Content-Type"] = "application/json";
    init.headers["X-CSRFToken"] = csrfToken();
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch (error) {
    if (error.name === "AbortError") throw error;
    return { ok: false, status: 0, data: { detail: gettext("The server could not be reached.") } };
  }
  const data = await response.json().catch(() => ({}));
  if (response.status === 401) {
    location.assign(`/accounts/login/?next=${encodeURIComponent(location.pathname)}`);
  }
  return { ok: response.ok, status: response.status, data };
}

export function say(text) {
  statusEl.textContent = text;
}

// --- The list ---------------------------------------------------------------------------

function remember(item) {
  const known = conversations.get(item.id) || {};
  conversations.set(item.id, { ...known, ...item });
}

// Read the server-rendered first page (it works without JS; this takes it over).
for (const li of listEl.querySelectorAll("li[data-id]")) {
  const link = li.querySelector("a");
  remember({
    id: Number(li.dataset.id),
    // The template shows an untitled conversation as "Untitled" (translated there).
    title: link.textContent === gettext("Untitled") ? "" : link.textContent,
    pinned: li.dataset.pinned === "true",
    updated_at: li.dataset.updated,
    url: link.getAttribute("href"),
  });
}

function startOfDay(date) {
  return new Date(date.getFullYear(), date.getMonth(), date.getDate()).getTime();
}

const monthFormat = new Intl.DateTimeFormat(pageLanguage(), { month: "long", year: "numeric" });

// The group a conversation goes under, in the reader's own time zone.
function groupOf(item, today) {
  if (item.pinned) return gettext("Pinned");
  const updated = new Date(item.updated_at);
  const days = Math.round((today - startOfDay(updated)) / 86400000);
  if (days <= 0) return gettext("Today");
  if (days === 1) return gettext("Yesterday");
  if (days <= 7) return gettext("Previous 7 days");
  return monthFormat.format(updated);
}

function ordered() {
  return [...conversations.values()].sort(
    (a, b) =>
      Number(b.pinned) - Number(a.pinned) ||
      (b.updated_at > a.updated_at ? 1 : b.updated_at < a.updated_at ? -1 : 0) ||
      b.id - a.id,
  );
}

function button(label, text, onClick, className = "item-action") {
  const el = document.createElement("button");
  el.type = "button";
  el.className = className;
  el.textContent = text;
  el.setAttribute("aria-label", label);
  el.title = label;
  el.addEventListener("click", onClick);
  return el;
}

function itemElement(item, { snippet = null } = {}) {
  const li = document.createElement("li");
  li.className = "conversation-item";
  li.dataset.id = item.id;
  const link = document.createElement("a");
  link.href = item.url;
  link.className = "conversation-link";
  const title = document.createElement("span");
  title.className = "conversation-title";
  title.textContent = item.title || gettext("Untitled");
  link.append(title);
  if (snippet) {
    const more = document.createElement("span");
    more.className = "conversation-snippet";
    more.textContent = snippet;
    link.append(more);
  }
  if (item.id === currentId) link.setAttribute("aria-current", "page");
  li.append(link);
  if (snippet === null) {
    const name = item.title || gettext("Untitled");
    const actions = document.createElement("span");
    actions.className = "item-actions";
    actions.append(
      button(interpolate(gettext("Rename “%(title)s”"), { title: name }), "✎", () =>
        startRename(item.id),
      ),
      button(
        interpolate(item.pinned ? gettext("Unpin “%(title)s”") : gettext("Pin “%(title)s”"), {
          title: name,
        }),
        item.pinned ? "★" : "☆",
        () => setPinned(item.id, !item.pinned),
      ),
      button(interpolate(gettext("Delete “%(title)s”"), { title: name }), "✕", () =>
        remove(item.id),
      ),
    );
    li.append(actions);
  }
  return li;
}

function render() {
  const focusedId = document.activeElement?.closest?.("#conversation-list li")?.dataset.id;
  // Which of the item's buttons had the focus, by position: their labels change (Pin, Unpin).
  const focusedAction = [
    ...(document.activeElement?.closest?.("#conversation-list li")?.querySelectorAll("button") || []),
  ].indexOf(document.activeElement);
  const today = startOfDay(new Date());
  const fragment = document.createDocumentFragment();
  let group = null;
  let ul = null;
  for (const item of ordered()) {
    const name = groupOf(item, today);
    if (name !== group) {
      group = name;
      const section = document.createElement("section");
      section.className = "conversation-group";
      const heading = document.createElement("h2");
      heading.textContent = name;
      ul = document.createElement("ul");
      section.append(heading, ul);
      fragment.append(section);
    }
    ul.append(itemElement(item));
  }
  listEl.replaceChildren(fragment);
  // Keep the keyboard where it was (a re-render replaces the elements).
  if (focusedId) {
    const li = listEl.querySelector(`li[data-id="${focusedId}"]`);
    const target = li?.querySelectorAll("button")[focusedAction] || li?.querySelector("a");
    target?.focus();
  }
  rovingApply(listEl);
  moreButton.hidden = !nextCursor;
}

async function loadMore() {
  if (loading || !nextCursor) return;
  loading = true;
  moreButton.disabled = true;
  const { ok, data } = await api(`/api/conversations/?cursor=${encodeURIComponent(nextCursor)}`);
  loading = false;
  moreButton.disabled = false;
  if (!ok) {
    say(data.detail || gettext("Could not load more conversations."));
    return;
  }
  for (const item of data.items) remember(item);
  nextCursor = data.next;
  render();
}

moreButton.addEventListener("click", loadMore);
// Load the next page when the "More" button scrolls into view: an endless list that still
// works by keyboard and without IntersectionObserver.
if ("IntersectionObserver" in window) {
  new IntersectionObserver(
    (entries) => {
      if (entries.some((e) => e.isIntersecting) && !searchInput.value.trim()) loadMore();
    },
    { root: scrollEl, rootMargin: "200px" },
  ).observe(moreButton);
}

// --- Rename, pin, delete ------------------------------------------------------------------

function startRename(id) {
  const item = conversations.get(id);
  const li = listEl.querySelector(`li[data-id="${id}"]`);
  if (!item || !li) return;
  const form = document.createElement("form");
  form.className = "rename-form";
  const label = document.createElement("label");
  label.className = "visually-hidden";
  label.htmlFor = `rename-${id}`;
  label.textContent = gettext("New title");
  const input = document.createElement("input");
  input.id = `rename-${id}`;
  input.value = item.title;
  input.maxLength = 200;
  input.required = true;
  form.append(label, input);
  li.replaceChildren(form);
  input.focus();
  input.select();
  let done = false;
  const finish = async (save) => {
    if (done) return;
    done = true;
    if (save && !input.value.trim()) {
      // Said, not silently undone: an empty title is refused and the old one kept.
      say(gettext("A title cannot be empty: the old title is kept."));
      render();
    } else if (save && input.value.trim() !== item.title) {
      const { ok, data } = await api(`/api/conversations/${id}/rename/`, {
        body: { title: input.value },
      });
      if (!ok) {
        say(data.detail || gettext("The conversation could not be renamed."));
        render();
        return;
      }
      applyUpdate(data.conversation);
      say(gettext("Renamed."));
    } else {
      say(""); // nothing changed: an earlier "Renamed." would be about another rename
      render();
    }
    listEl.querySelector(`li[data-id="${id}"] a`)?.focus();
  };
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    finish(true);
  });
  input.addEventListener("keydown", (event) => {
    if (event.key === "Escape") {
      event.preventDefault();
      event.stopPropagation();
      finish(false);
    }
  });
  input.addEventListener("blur", () => finish(true));
}

async function setPinned(id, pinned) {
  const { ok, data } = await api(`/api/conversations/${id}/pin/`, { body: { pinned } });
  if (!ok) {
    say(data.detail || gettext("That did not work."));
    return;
  }
  applyUpdate(data.conversation);
  say(pinned ? gettext("Pinned.") : gettext("Unpinned."));
}

// Delete at once, offer an undo while the server keeps it restorable. Undo over confirm:
// one click, no modal, and a slip costs nothing.
let undoTimer = null;
let undoId = null;

async function remove(id) {
  const item = conversations.get(id);
  if (!item) return;
  const { ok, data } = await api(`/api/conversations/${id}/delete/`, { body: {} });
  if (!ok) {
    say(data.detail || gettext("The conversation could not be deleted."));
    return;
  }
  finishUndo(); // a previous delete is final now
  conversations.delete(id);
  render();
  undoId = id;
  undoText.textContent = interpolate(gettext("Deleted “%(title)s”."), {
    title: item.title || gettext("Untitled"),
  });
  undoBar.hidden = false;
  undoButton.focus();
  // A little less than the server's window, so that an undo never arrives too late.
  undoTimer = setTimeout(finishUndo, Math.max(1, data.undo_seconds - 1) * 1000);
}

function finishUndo() {
  if (undoId === null) return;
  clearTimeout(undoTimer);
  const id = undoId;
  undoId = null;
  undoBar.hidden = true;
  if (id === currentId) location.assign("/"); // the page shows a conversation that is gone
}

undoButton.addEventListener("click", async () => {
  if (undoId === null) return;
  const id = undoId;
  clearTimeout(undoTimer);
  undoId = null;
  undoBar.hidden = true;
  const { ok, data } = await api(`/api/conversations/${id}/restore/`, { body: {} });
  if (!ok) {
    say(data.detail || gettext("The conversation could not be restored."));
    if (id === currentId) location.assign("/");
    return;
  }
  remember(data.conversation);
  render();
  say(gettext("Restored."));
  listEl.querySelector(`li[data-id="${id}"] a`)?.focus();
});

// --- Keyboard: one Tab stop for the list, arrows move (a roving tabindex) ---------------------
// Four Tab stops per conversation (the link and three buttons) made the list a wall to get
// through; now Tab enters the list on one link and leaves it with the next press. Up and
// Down move between conversations, Right and Left to the item's buttons and back, F2
// renames, Delete deletes.

let rovingId = null; // the conversation whose link holds the list's Tab stop

function rovingLinks(container) {
  return [...container.querySelectorAll("li.conversation-item > a")];
}

function rovingApply(container) {
  const links = rovingLinks(container);
  const keep =
    links.find((a) => a.closest("li").dataset.id === String(rovingId)) ||
    links.find((a) => a.getAttribute("aria-current") === "page") ||
    links[0];
  for (const link of links) link.tabIndex = link === keep ? 0 : -1;
  for (const action of container.querySelectorAll(".item-action")) action.tabIndex = -1;
}

function rovingKey(event) {
  const container = event.currentTarget;
  const li = event.target.closest("li.conversation-item");
  if (!li || event.target.closest(".rename-form") || event.ctrlKey || event.metaKey) return;
  const links = rovingLinks(container);
  const link = li.querySelector(":scope > a");
  const buttons = [...li.querySelectorAll(".item-action")];
  const onButton = buttons.indexOf(event.target);
  const id = Number(li.dataset.id);
  let target;
  if (event.key === "ArrowDown") target = links[links.indexOf(link) + 1];
  else if (event.key === "ArrowUp") target = links[links.indexOf(link) - 1];
  else if (event.key === "Home") target = links[0];
  else if (event.key === "End") target = links[links.length - 1];
  else if (event.key === "ArrowRight") target = buttons[onButton + 1];
  else if (event.key === "ArrowLeft") target = onButton > 0 ? buttons[onButton - 1] : link;
  else if (event.key === "F2" && container === listEl) startRename(id);
  else if (event.key === "Delete" && container === listEl) remove(id);
  else return;
  event.preventDefault();
  if (!target) return;
  rovingId = Number(target.closest("li").dataset.id);
  rovingApply(container);
  target.focus();
}

for (const container of [listEl, resultsEl]) {
  container.addEventListener("keydown", rovingKey);
  // A click or a Tab back into the list: the Tab stop follows the focus.
  container.addEventListener("focusin", (event) => {
    const li = event.target.closest("li.conversation-item");
    if (li && event.target.matches("li > a") && rovingId !== Number(li.dataset.id)) {
      rovingId = Number(li.dataset.id);
      rovingApply(container);
    }
  });
}

// --- Search -------------------------------------------------------------------------------

let searchTimer = null;
let searchAbort = null;

async function search(query) {
  searchAbort?.abort();
  searchAbort = new AbortController();
  let result;
  try {
    result = await api(`/api/conversations/?q=${encodeURIComponent(query)}`, {
      signal: searchAbort.signal,
    });
  } catch {
    return; // superseded by a newer query
  }
  if (query !== searchInput.value.trim()) return;
  if (!result.ok) {
    say(result.data.detail || gettext("Search failed."));
    return;
  }
  const items = result.data.items;
  resultsEl.replaceChildren(...items.map((item) => itemElement(item, { snippet: item.snippet })));
  rovingApply(resultsEl);
  say(
    items.length
      ? interpolate(ngettext("%(count)s found.", "%(count)s found.", items.length), {
          count: items.length,
        })
      : gettext("No conversation matches."),
  );
}

searchInput.addEventListener("input", () => {
  clearTimeout(searchTimer);
  const query = searchInput.value.trim();
  const searching = query.length > 0;
  listEl.hidden = searching;
  resultsEl.hidden = !searching;
  moreButton.hidden = searching || !nextCursor;
  if (!searching) {
    searchAbort?.abort();
    resultsEl.replaceChildren();
    say("");
    return;
  }
  searchTimer = setTimeout(() => search(query), SEARCH_DELAY_MS);
});
searchInput.addEventListener("keydown", (event) => {
  if (event.key === "Escape" && searchInput.value) {
    event.stopPropagation();
    searchInput.value = "";
    searchInput.dispatchEvent(new Event("input"));
  }
});

// --- Updates from the chat page and from the server ----------------------------------------

function setHeaderTitle(title) {
  titleEl.textContent = title || gettext("Conversation");
  document.title = `${title || gettext("Conversation")} · aiportal`;
}

function applyUpdate(conversation) {
  if (!conversation) return;
  remember(conversation);
  render();
  if (conversation.id === currentId) setHeaderTitle(conversation.title);
}

const share = setUpShare({ api, shared: sidebarData.shared, conversationId: currentId });

// chat.js announces a conversation that the first message just created ...
document.addEventListener("chat:conversation-created", (event) => {
  currentId = event.detail.id;
  remember(event.detail);
  render();
  share.setConversation(currentId, false);
});
// ... and a `conversation.updated` frame (a generated title, a rename in another tab).
document.addEventListener("chat:conversation-updated", (event) => applyUpdate(event.detail));

// --- The drawer (narrow screens) -----------------------------------------------------------

const openButton = document.getElementById("sidebar-open");
const closeButton = document.getElementById("sidebar-close");
const backdrop = document.getElementById("drawer-backdrop");

// The drawer slides only when it is opened or closed here (chat.css): for a little longer
// than the slide, then a window that turns narrow hides the column at once.
let drawerSettle = 0;

function setDrawer(open) {
  app.dataset.drawerMoving = "";
  clearTimeout(drawerSettle);
  drawerSettle = setTimeout(() => delete app.dataset.drawerMoving, 300);
  app.dataset.drawer = open ? "open" : "closed";
  openButton.setAttribute("aria-expanded", String(open));
  backdrop.hidden = !open;
  if (open) searchInput.focus();
  else if (sidebar.contains(document.activeElement)) openButton.focus();
}

// On a wide screen the list is a column that Ctrl+Shift+S (or ☰, shown while it is hidden)
// hides and shows; remembered, as the theme is.
const SIDEBAR_KEY = "aiportal.sidebar";
const narrow = window.matchMedia("(max-width: 700px)");

function setHidden(hidden) {
  app.dataset.sidebar = hidden ? "hidden" : "shown";
  try {
    localStorage.setItem(SIDEBAR_KEY, app.dataset.sidebar);
  } catch {
    // storage disabled: not remembered
  }
  if (hidden && sidebar.contains(document.activeElement)) {
    document.getElementById("composer-input").focus();
  }
}

try {
  if (localStorage.getItem(SIDEBAR_KEY) === "hidden") app.dataset.sidebar = "hidden";
} catch {
  // storage disabled: shown
}

function toggleSidebar() {
  if (narrow.matches) setDrawer(app.dataset.drawer !== "open");
  else setHidden(app.dataset.sidebar !== "hidden");
}

openButton.addEventListener("click", () => {
  if (narrow.matches) setDrawer(true);
  else setHidden(false);
});
document.addEventListener("chat:toggle-sidebar", toggleSidebar);
document.addEventListener("chat:focus-search", () => {
  if (narrow.matches) setDrawer(true); // which focuses the search
  else {
    if (app.dataset.sidebar === "hidden") setHidden(false);
    searchInput.focus();
    searchInput.select();
  }
});
closeButton.addEventListener("click", () => setDrawer(false));
backdrop.addEventListener("click", () => setDrawer(false));
sidebar.addEventListener("keydown", (event) => {
  if (event.key === "Escape" && app.dataset.drawer === "open") setDrawer(false);
});

render();
