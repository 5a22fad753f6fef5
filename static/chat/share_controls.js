// The header's share and export controls for the conversation on the page. A share link's
// token is stored by the server as a digest only: the link can be shown once, when it is
// made; after a reload the panel offers to revoke it or make a new one.
import { gettext } from "../common/i18n.js";

export function setUpShare({ api, shared, conversationId }) {
  const actions = document.getElementById("conversation-actions");
  const toggle = document.getElementById("share-button");
  const panel = document.getElementById("share-panel");
  const info = document.getElementById("share-info");
  const row = document.getElementById("share-link-row");
  const urlInput = document.getElementById("share-url");
  const copy = document.getElementById("share-copy");
  const create = document.getElementById("share-create");
  const revoke = document.getElementById("share-revoke");
  const exportMd = document.getElementById("export-md");
  const exportJson = document.getElementById("export-json");
  let id = conversationId;
  let active = shared;

  function show({ url = null, message = null } = {}) {
    row.hidden = !url;
    if (url) urlInput.value = url;
    revoke.hidden = !active;
    create.textContent = active ? gettext("Make a new link") : gettext("Create link");
    info.textContent =
      message ||
      (active
        ? url
          ? gettext("Anyone with this link can read this conversation, without signing in.")
          : gettext("This conversation has a read-only link. A new link replaces it.")
        : gettext("Make a read-only link: anyone who has it can read this conversation."));
    toggle.textContent = active ? gettext("Shared") : gettext("Share");
  }

  function setConversation(newId, isShared) {
    id = newId;
    active = isShared;
    actions.hidden = id === null;
    if (id !== null) {
      exportMd.href = `/c/${id}/export.md`;
      exportJson.href = `/c/${id}/export.json`;
    }
    show();
  }

  toggle.addEventListener("click", () => {
    panel.hidden = !panel.hidden;
    toggle.setAttribute("aria-expanded", String(!panel.hidden));
    if (!panel.hidden) (row.hidden ? create : urlInput).focus();
  });
  panel.addEventListener("keydown", (event) => {
    if (event.key === "Escape") {
      event.stopPropagation();
      panel.hidden = true;
      toggle.setAttribute("aria-expanded", "false");
      toggle.focus();
    }
  });
  create.addEventListener("click", async () => {
    const { ok, data } = await api(`/api/conversations/${id}/share/`, { body: {} });
    if (!ok) {
      show({ message: data.detail || gettext("The link could not be made.") });
      return;
    }
    active = true;
    show({ url: data.url });
    urlInput.focus();
    urlInput.select();
  });
  revoke.addEventListener("click", async () => {
    const { ok, data } = await api(`/api/conversations/${id}/share/revoke/`, { body: {} });
    if (!ok) {
      show({ message: data.detail || gettext("The link could not be revoked.") });
      return;
    }
    active = false;
    show({ message: gettext("The link no longer works.") });
    create.focus();
  });
  copy.addEventListener("click", async () => {
    try {
      await navigator.clipboard.writeText(urlInput.value);
      copy.textContent = gettext("Copied");
    } catch {
      urlInput.select(); // no clipboard access: leave it selected for Ctrl+C
      copy.textContent = gettext("Press Ctrl+C");
    }
  });

  setConversation(id, active);
  return { setConversation };
}
