// The chat page: one websocket (protocol v1, docs/websocket.md), messages rendered as they
// stream. The server is the source of truth; this file only mirrors it.
import { describeError } from "./errors.js";
import { createRenderer } from "./markdown.js";
import { createSocket, describeState } from "./socket.js";

const data = JSON.parse(document.getElementById("chat-data").textContent);
const render = createRenderer();

const list = document.getElementById("messages");
const form = document.getElementById("composer");
const input = document.getElementById("composer-input");
const sendButton = document.getElementById("send-button");
const stopButton = document.getElementById("stop-button");
const statusEl = document.getElementById("socket-status");
const errorEl = document.getElementById("composer-error");

let conversation = data.conversation;
const messages = new Map(); // id -> {el, body, content, seq, status}
const pending = new Map(); // client_id -> element of a user message not yet confirmed
let streamingId = null;
let socket = null;

function clientId() {
  const bytes = crypto.getRandomValues(new Uint8Array(12));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

// --- Rendering --------------------------------------------------------------------------

function messageElement(role) {
  document.getElementById("empty-hint").hidden = true;
  const el = document.createElement("article");
  el.className = `message ${role}`;
  const label = document.createElement("h2");
  label.className = "visually-hidden";
  label.textContent = role === "user" ? "You said:" : "Answer:";
  const body = document.createElement("div");
  body.className = "content";
  const meta = document.createElement("p");
  meta.className = "meta";
  el.append(label, body, meta);
  list.append(el);
  el.scrollIntoView({ block: "end" });
  return el;
}

function paint(entry) {
  if (entry.role === "user") {
    entry.body.textContent = entry.content; // what a person typed is shown as typed
  } else {
    render(entry.body, entry.content);
  }
  entry.dirty = false;
}

// Deltas can come faster than frames are drawn: re-render at most once per frame.
function schedulePaint(entry) {
  if (entry.dirty) return;
  entry.dirty = true;
  requestAnimationFrame(() => paint(entry));
}

function setStatus(entry, status, detail) {
  entry.status = status;
  entry.el.dataset.status = status;
  entry.el.setAttribute("aria-busy", status === "streaming" ? "true" : "false");
  const m = entry.metrics || {};
  const parts = [];
  if (status === "stopped") parts.push("Stopped");
  if (status === "interrupted") parts.push(detail ? `Interrupted: ${detail}` : "Interrupted");
  if (status === "error") parts.push(detail || "The answer failed.");
  if (m.ttft_ms !== undefined) parts.push(`first token ${m.ttft_ms} ms`);
  if (m.worker) parts.push(`${m.worker}${m.region ? ` (${m.region})` : ""}`);
  if (m.failovers) parts.push(`after ${m.failovers} failed worker${m.failovers > 1 ? "s" : ""}`);
  if (m.continued) parts.push("continued on another worker");
  entry.el.querySelector(".meta").textContent = parts.join(" · ");
  if (status === "streaming") {
    streamingId = entry.id;
  } else if (streamingId === entry.id) {
    streamingId = null;
  }
  stopButton.hidden = streamingId === null;
  sendButton.hidden = streamingId !== null;
}

function addMessage(message, el = null) {
  const entry = {
    id: message.id,
    role: message.role,
    el: el || messageElement(message.role),
    content: message.content || "",
    seq: message.last_seq || 0,
    metrics: message.metrics,
  };
  entry.body = entry.el.querySelector(".content");
  entry.el.dataset.id = message.id;
  messages.set(message.id, entry);
  paint(entry);
  setStatus(
    entry,
    message.status,
    message.error_code ? describeError({ code: message.error_code }) : "",
  );
  return entry;
}

function showError(text) {
  errorEl.textContent = text;
  errorEl.hidden = !text;
}

// --- Frames from the server ---------------------------------------------------------------

function onConversationCreated(frame) {
  conversation = frame.conversation;
  history.replaceState(null, "", conversation.url);
  document.getElementById("chat-title").textContent = conversation.title;
  document.title = `${conversation.title} · aiportal`;
  const link = document.createElement("a");
  link.href = conversation.url;
  link.textContent = conversation.title;
  link.setAttribute("aria-current", "page");
  const item = document.createElement("li");
  item.append(link);
  const sidebar = document.getElementById("conversation-list");
  sidebar.querySelector("[aria-current]")?.removeAttribute("aria-current");
  sidebar.prepend(item);
}

function onMessageCreated(frame) {
  const message = frame.message;
  if (!conversation || message.conversation !== conversation.id) return;
  if (messages.has(message.id)) {
    // A continued answer (chat.continue) is announced again: it streams on from its seq.
    const entry = messages.get(message.id);
    if (message.status === "streaming" && entry.status !== "streaming") {
      entry.seq = Math.max(entry.seq, message.last_seq || 0);
      setStatus(entry, "streaming");
    }
    return;
  }
  const el = frame.client_id && message.role === "user" ? pending.get(frame.client_id) : null;
  pending.delete(frame.client_id);
  addMessage(message, el);
}

function onDelta(frame) {
  const entry = messages.get(frame.message);
  if (!entry || frame.seq <= entry.seq) return; // already have it (snapshot, or twice)
  if (frame.seq !== entry.seq + 1) {
    // A gap: the channel layer is best effort. Ask for a snapshot and drop this one.
    send({ type: "chat.resume", message: entry.id, after_seq: entry.seq });
    return;
  }
  entry.content += frame.text;
  entry.seq = frame.seq;
  schedulePaint(entry);
}

function onSnapshot(frame) {
  const entry = messages.get(frame.message);
  if (!entry || frame.seq < entry.seq) return;
  entry.content = frame.content;
  entry.seq = frame.seq;
  schedulePaint(entry);
}

function onFinal(frame) {
  const entry = messages.get(frame.message);
  if (!entry) return;
  entry.content = frame.content ?? entry.content; // authoritative: fixes any lost delta
  entry.seq = frame.seq ?? entry.seq;
  entry.metrics = frame.metrics || entry.metrics;
  paint(entry);
  setStatus(entry, frame.status || "error", frame.code ? describeError(frame) : frame.detail);
}

function onMessageError(frame) {
  if (frame.message) {
    onFinal(frame);
    return;
  }
  // The request itself failed (not found, too long): give the text back to the composer.
  const el = pending.get(frame.client_id);
  if (el) {
    pending.delete(frame.client_id);
    if (!input.value) input.value = el.querySelector(".content").textContent;
    el.remove();
  }
  showError(describeError(frame));
}

const handlers = {
  "conversation.created": onConversationCreated,
  "message.created": onMessageCreated,
  "message.delta": onDelta,
  "message.snapshot": onSnapshot,
  "message.done": onFinal,
  "message.error": onMessageError,
  error: (frame) => showError(describeError(frame)),
};

// --- The socket (static/chat/socket.js) -------------------------------------------------

// Frames typed while disconnected are not queued: the text stays in the box and Send is
// disabled with a reason. A queued message could go out minutes later, after the person has
// given up or changed it, and a stop or resume from before the drop means nothing after it.
function onSocketState(state, info) {
  statusEl.dataset.state = state === "open" ? "connected" : state;
  statusEl.textContent = describeState(state, info);
  if (state === "signed-out") {
    const link = document.createElement("a");
    link.href = `/accounts/login/?next=${encodeURIComponent(location.pathname)}`;
    link.textContent = "sign in again";
    statusEl.append(link);
  }
  const open = state === "open";
  if (!open) {
    // Whatever the server answers to these now went to the dropped socket: say so rather
    // than leave them "sending" for ever. The server may well have saved them.
    for (const el of pending.values()) {
      el.dataset.status = "unconfirmed";
      el.querySelector(".meta").textContent =
        "The connection dropped before this message was confirmed. Reload the page to see whether it arrived.";
    }
    pending.clear();
  }
  sendButton.disabled = !open;
  sendButton.title = open ? "" : "Not connected: your message is kept until you can send it.";
  if (!open) return;
  // Catch up with answers that went on while this page was away (or loading).
  for (const entry of messages.values()) {
    if (entry.status === "streaming") {
      send({ type: "chat.resume", message: entry.id, after_seq: entry.seq });
    }
  }
}

function send(frame) {
  return socket !== null && socket.send(frame);
}

// --- The composer -----------------------------------------------------------------------

function submit() {
  const content = input.value;
  if (!content.trim() || streamingId !== null) return;
  if (content.length > data.maxChars) {
    showError(`A message may be at most ${data.maxChars} characters long.`);
    return;
  }
  const id = clientId();
  const frame = {
    type: "chat.send",
    conversation: conversation ? conversation.id : null,
    content,
    client_id: id,
  };
  if (!send(frame)) {
    showError("Not connected. Your message is kept; send it once the connection is back.");
    return;
  }
  showError("");
  const el = messageElement("user");
  el.querySelector(".content").textContent = content;
  el.dataset.status = "sending";
  pending.set(id, el);
  input.value = "";
  autosize();
}

function autosize() {
  input.style.height = "auto";
  input.style.height = `${Math.min(input.scrollHeight, 240)}px`;
}

form.addEventListener("submit", (event) => {
  event.preventDefault();
  submit();
});
input.addEventListener("keydown", (event) => {
  if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
    event.preventDefault();
    submit();
  }
});
input.addEventListener("input", autosize);
stopButton.addEventListener("click", () => {
  if (streamingId === null) return;
  if (!send({ type: "chat.stop", message: streamingId })) {
    // Not queued: a stop sent after the reconnect could land on a later answer's turn.
    showError("Not connected, so the answer cannot be stopped yet. Try again once connected.");
  }
});

for (const message of data.messages) addMessage(message);
list.lastElementChild?.scrollIntoView({ block: "end" });
socket = createSocket({
  onFrame: (frame) => handlers[frame.type]?.(frame),
  onState: onSocketState,
});
input.focus();
