// The read-only page of a share link: the conversation's messages, rendered through the same
// markdown + DOMPurify pipeline as the chat page; what a person typed is shown as typed.
import { gettext } from "../common/i18n.js";
import { paintAttachments } from "./attachments.js";
import { createRenderer } from "./markdown.js";
import { paintSources } from "./sources.js";

// What an unfinished answer's line says (the statuses of docs/websocket.md).
const STATUS = {
  streaming: gettext("Still being written"),
  stopped: gettext("Stopped"),
  interrupted: gettext("Interrupted"),
  error: gettext("The answer failed."),
};
const data = JSON.parse(document.getElementById("share-data").textContent);
const render = createRenderer();
const list = document.getElementById("messages");

for (const message of data.messages) {
  const el = document.createElement("article");
  el.className = `message ${message.role}`;
  el.dataset.status = message.status;
  const label = document.createElement("h2");
  label.className = "visually-hidden";
  label.textContent = message.role === "user" ? gettext("They said:") : gettext("Answer:");
  const body = document.createElement("div");
  body.className = "content";
  if (message.role === "user") body.textContent = message.content;
  else render(body, message.content);
  el.append(label, body);
  paintAttachments(el, message.attachments);
  if (message.status !== "complete") {
    const meta = document.createElement("p");
    meta.className = "meta";
    meta.textContent = STATUS[message.status] || message.status;
    el.append(meta);
  }
  // The passages the answer was given, kept on it: no fetch (the reader may have no access).
  paintSources(el, message.citations, null);
  list.append(el);
}
