// The chat page: one websocket (protocol v2, docs/websocket.md), messages rendered as they
// stream. The server is the source of truth; this file only mirrors it. The conversation is
// a tree (thread.js): the page shows one branch, ‹ 2/3 › switches between siblings, and a
// new message continues the shown branch.
import { gettext, interpolate, pageLanguage } from "../common/i18n.js";
import { createAssistantPicker } from "./assistants.js";
import { createAttachments, paintAttachments } from "./attachments.js";
import { copyFrom } from "./clipboard.js";
import { createDatasetPicker, createPassagePanel, linkCitations } from "./datasets.js";
import { describeError } from "./errors.js";
import { failoverText } from "./details.js";
import { createFollower } from "./follow.js";
import { createRenderer } from "./markdown.js";
import { createSocket, describeState } from "./socket.js";
import { paintSources } from "./sources.js";
import { createStallWatch } from "./stall.js";
import { Thread } from "./thread.js";
import { createToolPicker, paintSteps, stepMerge } from "./tools.js";

// Messages rendered at once, and fetched per scroll-up: the page's first render stays fast
// however long the branch is.
const WINDOW = 50;
const FETCH_CHUNK = 200;
const data = JSON.parse(document.getElementById("chat-data").textContent);
const render = createRenderer();

const list = document.getElementById("messages");
const earlierButton = document.getElementById("load-earlier");
const form = document.getElementById("composer");
const input = document.getElementById("composer-input");
const sendButton = document.getElementById("send-button");
const stopButton = document.getElementById("stop-button");
const statusEl = document.getElementById("socket-status");
const errorEl = document.getElementById("composer-error");
const modelPicker = document.getElementById("model-picker");
const settingsBox = document.getElementById("conversation-settings");
const systemPrompt = document.getElementById("system-prompt");
const settingsStatus = document.getElementById("settings-status");
const composerNote = document.getElementById("composer-note");
const follower = createFollower({ list, button: document.getElementById("jump-latest") });
const stalls = createStallWatch({
  firstTokenTimeout: data.firstTokenTimeout,
  idleTimeout: data.idleTimeout,
  shown: () => follower.grew(),
});
// Why Send is off, if it is: the socket is not open, or no model may be used.
let connected = false;
let noModel = false;

let conversation = data.conversation;
const thread = new Thread(data.tree || []);
for (const message of data.messages) thread.add(record(message));
// The records, by id; a streaming one is resumed when the socket (re)opens.
const messages = thread.records;
const entries = new Map(); // id -> {record, el, body} of the messages on screen
const pending = new Map(); // client_id -> element of a user message not yet confirmed
let path = thread.path(thread.latestLeaf()); // the shown branch, root first
let windowStart = data.messages.length ? Math.max(0, path.indexOf(data.messages[0].id)) : 0;
let streamingId = null;
let selectedModel = data.model || "";
let socket = null;
const openPassage = createPassagePanel(document.getElementById("passage-panel"));
const datasetRoot = document.getElementById("dataset-picker");
const attachmentBox = createAttachments({
  form,
  input,
  button: document.getElementById("attach-button"),
  fileInput: document.getElementById("attach-input"),
  list: document.getElementById("attachment-chips"),
  limits: data.attachments,
  onError: (text) => showError(text),
});
const pendingAttachments = new Map(); // client_id -> the chips a refused send gives back
const datasetPicker = createDatasetPicker({
  root: datasetRoot,
  chosen: conversation ? conversation.datasets : [],
});
const toolPicker = createToolPicker({
  root: document.getElementById("tool-picker"),
  tools: data.tools,
  chosen: conversation ? conversation.tools : [],
});
// A new chat may start from an assistant (static/chat/assistants.js); a starter prompt is
// sent as the first message.
const assistantPicker = createAssistantPicker({
  conversation,
  onStarter: (text) => {
    input.value = text;
    submit();
  },
});

function record(message) {
  return { ...message, seq: message.last_seq || 0 };
}

function clientId() {
  const bytes = crypto.getRandomValues(new Uint8Array(12));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

function button(text, className, label) {
  const el = document.createElement("button");
  el.type = "button";
  el.className = className;
  el.textContent = text;
  if (label) el.setAttribute("aria-label", label);
  return el;
}

// --- Rendering --------------------------------------------------------------------------

function messageElement(role) {
  document.getElementById("empty-hint").hidden = true;
  const el = document.createElement("article");
  el.className = `message ${role}`;
  const label = document.createElement("h2");
  label.className = "visually-hidden";
  label.textContent = role === "user" ? gettext("You said:") : gettext("Answer:");
  const body = document.createElement("div");
  body.className = "content";
  const meta = document.createElement("p");
  meta.className = "meta";
  const tools = document.createElement("div");
  tools.className = "message-tools";
  el.append(label, body, meta, tools);
  if (role === "assistant") body.before(thinkingElement());
  if (role === "assistant") {
    const details = document.createElement("details");
    details.className = "answer-details";
    const summary = document.createElement("summary");
    summary.textContent = gettext("Details");
    details.append(summary, document.createElement("dl"));
    el.append(details);
  }
  return el;
}

// A reasoning model's thinking: collapsed above the answer, plain text (never markdown, never
// part of the answer), and saying so while the model is still thinking.
function thinkingElement() {
  const details = document.createElement("details");
  details.className = "thinking";
  details.hidden = true;
  const summary = document.createElement("summary");
  const label = document.createElement("span");
  label.className = "thinking-label";
  summary.append(label);
  const text = document.createElement("div");
  text.className = "thinking-text";
  details.append(summary, text);
  return details;
}

function paintThinking(entry) {
  const details = entry.el.querySelector(".thinking");
  if (!details) return;
  const r = entry.record;
  details.hidden = !r.reasoning;
  if (!r.reasoning) return;
  const thinking = r.status === "streaming" && !r.content;
  details.classList.toggle("active", thinking);
  details.querySelector(".thinking-label").textContent = thinking
    ? gettext("Thinking…")
    : gettext("Thinking");
  details.querySelector(".thinking-text").textContent = r.reasoning;
}

// Each code block gets its own copy button, added after sanitising (buttons are not allowed
// through DOMPurify, and need not be: they are ours).
function addCodeButtons(body) {
  for (const pre of body.querySelectorAll("pre")) {
    const wrap = document.createElement("div");
    wrap.className = "code-block";
    pre.replaceWith(wrap);
    wrap.append(button(gettext("Copy code"), "copy-code", gettext("Copy code")), pre);
  }
}

function paint(entry) {
  const { record: r } = entry;
  if (r.role === "user") {
    entry.body.textContent = r.content; // what a person typed is shown as typed
    paintAttachments(entry.el, r.attachments);
  } else {
    paintThinking(entry);
    paintSteps(
      entry.el,
      r.tool_steps,
      (call, approve) => send({ type: "chat.tool_approve", message: r.id, call, approve }),
      r.status === "streaming",
    );
    render(entry.body, r.content);
    addCodeButtons(entry.body);
    linkCitations(entry.body, r.metrics?.citations, openPassage);
    paintSources(entry.el, r.metrics?.citations, openPassage);
  }
  entry.dirty = false;
}

// Deltas can come faster than frames are drawn: re-render at most once per frame.
function schedulePaint(entry) {
  if (entry.dirty) return;
  entry.dirty = true;
  requestAnimationFrame(() => {
    paint(entry);
    follower.grew();
  });
}

// "24.5" in English, "24,5" in French: the page's language, as the words around it.
const decimal = new Intl.NumberFormat(pageLanguage(), {
  minimumFractionDigits: 1,
  maximumFractionDigits: 1,
});

function oneDecimal(value) {
  return decimal.format(value);
}

function tokensPerSecond(r) {
  const m = r.metrics || {};
  // The server's, over generation time (a stalled worker's wait left out); older answers
  // were saved without it.
  if (typeof m.tokens_per_second === "number") return oneDecimal(m.tokens_per_second);
  const tokens = (r.usage || {}).completion_tokens;
  const seconds = (m.duration_ms - (m.ttft_ms || 0)) / 1000;
  if (!tokens || !(seconds > 0)) return null;
  return oneDecimal(tokens / seconds);
}

function fillDetails(entry) {
  const dl = entry.el.querySelector(".answer-details dl");
  if (!dl) return;
  const r = entry.record;
  const m = r.metrics || {};
  const rows = [
    [gettext("Model"), r.model || m.model],
    [gettext("Worker"), m.worker],
    [gettext("Region"), m.region],
    [
      gettext("Time to first token"),
      m.ttft_ms !== undefined ? interpolate(gettext("%(ms)s ms"), { ms: m.ttft_ms }) : null,
    ],
    [gettext("Tokens per second"), tokensPerSecond(r)],
    [gettext("Attempts"), m.attempts],
  ];
  // Only what the gateway reported: an answer saved without metrics claims nothing.
  if ("failovers" in m || "continued" in m) rows.push([gettext("Failover"), failoverText(m)]);
  if (m.continued_by_user) rows.push([gettext("Continued by you"), gettext("yes")]);
  dl.replaceChildren();
  if (!rows.some(([, value]) => value !== null && value !== undefined && value !== "")) {
    dl.textContent = gettext("No details were recorded for this answer.");
  }
  for (const [name, value] of rows) {
    if (value === null || value === undefined || value === "") continue;
    const dt = document.createElement("dt");
    dt.textContent = name;
    const dd = document.createElement("dd");
    dd.textContent = String(value);
    dl.append(dt, dd);
  }
}

function updateTools(entry) {
  const r = entry.record;
  const tools = entry.el.querySelector(".message-tools");
  tools.replaceChildren();
  const siblings = thread.siblings(r.id);
  if (siblings.length > 1) {
    const index = siblings.indexOf(r.id);
    const nav = document.createElement("span");
    nav.className = "branches";
    nav.setAttribute("role", "group");
    nav.setAttribute("aria-label", gettext("Versions"));
    const previous = button("‹", "branch-previous", gettext("Previous version"));
    previous.disabled = index === 0;
    previous.dataset.target = siblings[index - 1] ?? "";
    const count = document.createElement("span");
    count.className = "branch-count";
    count.textContent = `${index + 1}/${siblings.length}`;
    const next = button("›", "branch-next", gettext("Next version"));
    next.disabled = index === siblings.length - 1;
    next.dataset.target = siblings[index + 1] ?? "";
    nav.append(previous, count, next);
    tools.append(nav);
  }
  if (r.status !== "streaming") {
    tools.append(button(gettext("Copy"), "copy-message", gettext("Copy message")));
    if (r.role === "user") {
      tools.append(button(gettext("Edit"), "edit-message", gettext("Edit message")));
    }
    if (r.role === "assistant") {
      if (r.status === "stopped" || r.status === "interrupted") {
        tools.append(
          button(gettext("Continue"), "continue-answer", gettext("Continue the answer")),
        );
      }
      tools.append(
        button(gettext("Regenerate"), "regenerate-answer", gettext("Regenerate the answer")),
      );
    }
  }
  fillDetails(entry);
}

function setStatus(entry, status, detail) {
  const r = entry.record;
  r.status = status;
  entry.el.dataset.status = status;
  entry.el.setAttribute("aria-busy", status === "streaming" ? "true" : "false");
  const m = r.metrics || {};
  const parts = [];
  if (status === "stopped") parts.push(gettext("Stopped"));
  if (status === "interrupted") {
    parts.push(
      detail ? interpolate(gettext("Interrupted: %(why)s"), { why: detail }) : gettext("Interrupted"),
    );
  }
  if (status === "error") parts.push(detail || gettext("The answer failed."));
  if (m.ttft_ms !== undefined) {
    parts.push(interpolate(gettext("first token %(ms)s ms"), { ms: m.ttft_ms }));
  }
  // The worker only reaches staff (the server leaves it out for everyone else).
  if (m.worker) parts.push(`${m.worker}${m.region ? ` (${m.region})` : ""}`);
  else if (m.region) parts.push(m.region);
  if (m.failovers || m.continued) parts.push(gettext("failed over to another worker"));
  entry.el.querySelector(".meta").textContent = parts.join(" · ");
  updateTools(entry);
  if (status === "streaming") {
    stalls.heard(r.id, entry.el, { text: Boolean(r.content || r.reasoning) });
  } else {
    stalls.ended(r.id);
  }
}

// The streaming answer may be off screen (another branch): the composer follows it anyway.
function trackStreaming(r) {
  if (r.status === "streaming") {
    streamingId = r.id;
  } else if (streamingId === r.id) {
    streamingId = null;
  }
  stopButton.hidden = streamingId === null;
  sendButton.hidden = streamingId !== null;
}

function entryFor(r, el = null) {
  const entry = { record: r, el: el || messageElement(r.role) };
  entry.body = entry.el.querySelector(".content");
  entry.el.dataset.id = r.id;
  entries.set(r.id, entry);
  paint(entry);
  setStatus(entry, r.status, r.error_code ? describeError({ code: r.error_code }) : "");
  return entry;
}

// Rebuild the shown branch from ``windowStart`` on. Only whole-branch changes (a switch, a
// sibling created) come here; a streaming answer repaints its own element only.
function renderThread() {
  for (const entry of entries.values()) entry.el.remove();
  entries.clear();
  const fragment = document.createDocumentFragment();
  for (const id of path.slice(windowStart)) {
    const r = thread.get(id);
    if (r && thread.loaded(id)) fragment.append(entryFor(r).el);
  }
  list.append(fragment);
  earlierButton.hidden = windowStart === 0;
  document.getElementById("empty-hint").hidden = path.length > 0 || pending.size > 0;
}

async function fetchMessages(ids) {
  const missing = ids.filter((id) => !thread.loaded(id));
  for (let i = 0; i < missing.length; i += FETCH_CHUNK) {
    const chunk = missing.slice(i, i + FETCH_CHUNK);
    const response = await fetch(`/c/${conversation.id}/messages/?ids=${chunk.join(",")}`, {
      credentials: "same-origin",
      headers: { Accept: "application/json" },
    });
    if (!response.ok) throw new Error(`loading messages failed (${response.status})`);
    for (const message of (await response.json()).messages) thread.add(record(message));
  }
}

async function showBranch(leaf, focusId = null) {
  const nextPath = thread.path(leaf);
  // The switched message stays on screen, however far up the branch it is.
  const focusIndex = focusId === null ? -1 : nextPath.indexOf(focusId);
  const last = Math.max(0, nextPath.length - WINDOW);
  const start = focusIndex >= 0 ? Math.min(Math.max(0, focusIndex - 2), last) : last;
  try {
    await fetchMessages(nextPath.slice(start));
  } catch {
    showError(gettext("Could not load that branch. Check the connection and try again."));
    return;
  }
  path = nextPath;
  windowStart = start;
  renderThread();
  const target = entries.get(focusId);
  if (target) {
    target.el.scrollIntoView({ block: "center" });
    follower.release();
  } else {
    follower.jump();
  }
}

let loadingEarlier = false;

async function loadEarlier() {
  if (loadingEarlier || windowStart === 0 || !conversation) return;
  loadingEarlier = true;
  const start = Math.max(0, windowStart - WINDOW);
  try {
    await fetchMessages(path.slice(start, windowStart));
    const before = list.scrollHeight;
    const fragment = document.createDocumentFragment();
    for (const id of path.slice(start, windowStart)) {
      if (thread.loaded(id)) fragment.append(entryFor(thread.get(id)).el);
    }
    earlierButton.after(fragment);
    windowStart = start;
    earlierButton.hidden = windowStart === 0;
    // Keep what the person was reading where it was.
    list.scrollTop += list.scrollHeight - before;
  } catch {
    showError(gettext("Could not load earlier messages. Scroll up to try again."));
  } finally {
    loadingEarlier = false;
  }
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
  // The sidebar (sidebar.js) lists it and shows the share and export controls.
  document.dispatchEvent(new CustomEvent("chat:conversation-created", { detail: conversation }));
  settingsBox.hidden = false;
  assistantPicker.started(conversation);
}

function onMessageCreated(frame) {
  const message = frame.message;
  if (!conversation || message.conversation !== conversation.id) return;
  const known = thread.get(message.id);
  if (known) {
    // The same message again (a continued answer streams anew): take its new state, never
    // going back on the deltas already shown.
    const seq = Math.max(known.seq, message.last_seq || 0);
    Object.assign(known, record(message), { seq });
    trackStreaming(known);
    const entry = entries.get(message.id);
    if (entry) setStatus(entry, known.status, "");
    return;
  }
  const r = thread.add(record(message));
  trackStreaming(r);
  const el = frame.client_id && message.role === "user" ? pending.get(frame.client_id) : null;
  pending.delete(frame.client_id);
  if (message.role === "user") pendingAttachments.delete(frame.client_id);
  const last = path[path.length - 1] ?? null;
  if (r.parent === last) {
    // The shown branch grows by one.
    path.push(r.id);
    const entry = entryFor(r);
    if (el) el.replaceWith(entry.el);
    else list.append(entry.el);
    follower.grew();
  } else {
    // A sibling (an edit, a regeneration): it becomes the shown branch.
    el?.remove();
    showBranch(r.id);
  }
}

function onDelta(frame) {
  const r = thread.get(frame.message);
  if (!r || frame.seq <= r.seq) return; // already have it (snapshot, or twice)
  if (frame.seq !== r.seq + 1) {
    // A gap: the channel layer is best effort. Ask for a snapshot and drop this one.
    send({ type: "chat.resume", message: r.id, after_seq: r.seq });
    return;
  }
  r.content = (r.content || "") + frame.text;
  if (frame.reasoning) r.reasoning = (r.reasoning || "") + frame.reasoning;
  r.seq = frame.seq;
  const entry = entries.get(r.id);
  if (r.status !== "streaming") {
    // A continued answer: deltas resume after its last seq.
    r.status = "streaming";
    trackStreaming(r);
    if (entry) setStatus(entry, "streaming");
  }
  if (entry) {
    stalls.heard(r.id, entry.el, { text: true });
    schedulePaint(entry);
  }
}

function onSnapshot(frame) {
  const r = thread.get(frame.message);
  if (!r || frame.seq < r.seq) return;
  r.content = frame.content;
  r.reasoning = frame.reasoning ?? r.reasoning;
  r.tool_steps = frame.tool_steps ?? r.tool_steps;
  r.seq = frame.seq;
  const entry = entries.get(r.id);
  if (entry) schedulePaint(entry);
}

// A tool call began, waits for approval, or ended (static/chat/tools.js).
function onToolStep(frame) {
  const r = thread.get(frame.message);
  if (!r) return;
  stepMerge(r, frame.step);
  const entry = entries.get(r.id);
  if (!entry) return;
  // A tool at work or a call waiting for the person is not a stalled model: no notice then.
  if (frame.step.status === "running" || frame.step.status === "waiting") stalls.ended(r.id);
  else stalls.heard(r.id, entry.el, { text: true });
  schedulePaint(entry);
}

function onFinal(frame) {
  const r = thread.get(frame.message);
  if (!r) return;
  r.content = frame.content ?? r.content; // authoritative: fixes any lost delta
  r.reasoning = frame.reasoning ?? r.reasoning;
  r.tool_steps = frame.tool_steps ?? r.tool_steps;
  r.seq = frame.seq ?? r.seq;
  r.metrics = frame.metrics || r.metrics;
  r.usage = frame.usage || r.usage;
  if (r.metrics?.model) r.model = r.metrics.model;
  r.status = frame.status || "error";
  trackStreaming(r);
  stalls.ended(r.id);
  const entry = entries.get(r.id);
  if (!entry) return;
  paint(entry);
  setStatus(entry, r.status, frame.code ? describeError(frame) : frame.detail);
  follower.grew();
}

function onMessageError(frame) {
  if (frame.message) {
    onFinal(frame);
    return;
  }
  // The request itself failed (not found, too long): give the text back to the composer.
  const el = pending.get(frame.client_id);
  const attached = pendingAttachments.get(frame.client_id);
  if (attached) {
    pendingAttachments.delete(frame.client_id);
    attachmentBox.restore(attached);
  }
  if (el) {
    pending.delete(frame.client_id);
    if (!input.value) input.value = el.querySelector(".content").textContent;
    el.remove();
  }
  if (frame.code === "assistant_unavailable") assistantPicker.reopen();
  showError(describeError(frame));
}

const handlers = {
  "conversation.created": onConversationCreated,
  "message.created": onMessageCreated,
  "message.delta": onDelta,
  "message.snapshot": onSnapshot,
  "message.done": onFinal,
  "message.error": onMessageError,
  "tool.call": onToolStep,
  "tool.approval": onToolStep,
  "tool.result": onToolStep,
  // A new title or pin (generated, or changed in another tab): the sidebar's to show.
  "conversation.updated": (frame) =>
    document.dispatchEvent(
      new CustomEvent("chat:conversation-updated", { detail: frame.conversation }),
    ),
  error: (frame) => showError(describeError(frame)),
  // Grants changed somewhere: what may be picked is fetched again (gone ones leave).
  "datasets.changed": () => datasetPicker.refresh(),
  "assistants.changed": () => assistantPicker.reopen(),
  "datasets.dropped": (frame) => {
    datasetPicker.remove(frame.datasets);
    showError(frame.detail);
  },
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
    link.textContent = gettext("sign in again");
    statusEl.append(link);
  }
  if (state === "account-inactive") {
    const link = document.createElement("a");
    link.href = "/accounts/status/";
    link.textContent = gettext("see why");
    statusEl.append(link);
  }
  const open = state === "open";
  if (!open) {
    // Whatever the server answers to these now went to the dropped socket: say so rather
    // than leave them "sending" for ever. The server may well have saved them.
    for (const el of pending.values()) {
      el.dataset.status = "unconfirmed";
      el.querySelector(".meta").textContent = gettext(
        "The connection dropped before this message was confirmed. Reload the page to see whether it arrived.",
      );
    }
    pending.clear();
  }
  connected = open;
  composerState();
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

// Send is off, visibly and with its reason, while nothing could be sent: not connected (the
// text stays in the box), or no model available (then there is nothing to type for either).
function composerState() {
  const reason = noModel
    ? gettext("No model is available to you right now, so no message can be sent.")
    : connected
      ? ""
      : gettext("Not connected: your message is kept until you can send it.");
  sendButton.disabled = Boolean(reason);
  sendButton.title = reason;
  input.disabled = noModel;
  input.placeholder = noModel ? gettext("No model available") : gettext("Message aiportal");
  // The socket's state has its own line in the header; a missing model is said here.
  composerNote.textContent = noModel ? reason : "";
  composerNote.hidden = !noModel;
}

function busy() {
  if (streamingId === null) return false;
  showError(gettext("An answer is still streaming: wait for it, or stop it (Esc)."));
  return true;
}

function tooLong(content) {
  if (content.length <= data.maxChars) return false;
  showError(
    interpolate(gettext("A message may be at most %(limit)s characters long."), {
      limit: data.maxChars,
    }),
  );
  return true;
}

// A user message after ``parent`` (null: a new first message); returns the client id, or
// null when the socket is not open.
function sendMessage(content, parent, attachments = []) {
  const id = clientId();
  const frame = {
    type: "chat.send",
    conversation: conversation ? conversation.id : null,
    content,
    model: selectedModel || null,
    // The picker's choice, every time: the server keeps it on the conversation.
    datasets: datasetPicker.ids(),
    tools: toolPicker.names(),
    client_id: id,
  };
  const assistant = assistantPicker.chosen(); // null once the conversation exists
  if (assistant !== null) frame.assistant = assistant;
  if (attachments.length) frame.attachments = attachments;
  if (conversation) {
    if (parent === null) frame.root = true;
    else frame.parent = parent;
  }
  if (!send(frame)) {
    showError(gettext("Not connected. Your message is kept; send it once the connection is back."));
    return null;
  }
  showError("");
  return id;
}

function submit() {
  const content = input.value;
  if (noModel || !content.trim() || busy() || tooLong(content)) return;
  if (attachmentBox.uploading()) {
    showError(gettext("Wait for the attachments to finish uploading."));
    return;
  }
  const attached = attachmentBox.sent();
  const id = sendMessage(
    content,
    path[path.length - 1] ?? null,
    attached.map((item) => item.id),
  );
  if (!id) return;
  const el = messageElement("user");
  el.querySelector(".content").textContent = content;
  paintAttachments(el, attached);
  if (attached.length) pendingAttachments.set(id, attached);
  attachmentBox.clear();
  el.dataset.status = "sending";
  list.append(el);
  follower.jump();
  pending.set(id, el);
  assistantPicker.hide();
  // The datasets popover was for this message: it is out of the way once it is sent.
  datasetRoot.open = false;
  input.value = "";
  autosize();
}

function autosize() {
  input.style.height = "auto";
  input.style.height = `${Math.min(input.scrollHeight, 240)}px`;
}

// --- Message actions --------------------------------------------------------------------

function startEdit(entry) {
  if (entry.el.querySelector(".edit-form") || busy()) return;
  const editor = document.createElement("form");
  editor.className = "edit-form";
  const label = document.createElement("label");
  label.className = "visually-hidden";
  const area = document.createElement("textarea");
  area.id = `edit-${entry.record.id}`;
  area.value = entry.record.content;
  area.rows = Math.min(10, area.value.split("\n").length + 1);
  label.htmlFor = area.id;
  label.textContent = gettext("Edit your message");
  const save = document.createElement("button");
  save.type = "submit";
  save.className = "primary";
  save.textContent = gettext("Send edit");
  const cancel = button(gettext("Cancel"), "cancel-edit");
  const actions = document.createElement("div");
  actions.className = "edit-actions";
  actions.append(cancel, save);
  editor.append(label, area, actions);
  entry.body.hidden = true;
  // The bubble's own buttons (Copy, Edit, ‹ ›) would act on the text being replaced.
  entry.el.classList.add("editing");
  entry.body.after(editor);
  const close = () => {
    editor.remove();
    entry.body.hidden = false;
    entry.el.classList.remove("editing");
  };
  cancel.addEventListener("click", close);
  editor.addEventListener("submit", (event) => {
    event.preventDefault();
    const content = area.value;
    if (!content.trim() || busy() || tooLong(content)) return;
    // The edit is a sibling of the message: same parent, and a new answer.
    if (sendMessage(content, entry.record.parent)) {
      close();
      input.focus(); // the answer streams below; the composer is where the person goes next
    }
  });
  area.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      editor.requestSubmit();
    } else if (event.key === "Escape") {
      event.stopPropagation();
      close();
      entry.el.querySelector(".edit-message")?.focus();
    }
  });
  area.focus();
}

function entryOf(control) {
  const el = control.closest("article.message");
  return el ? entries.get(Number(el.dataset.id)) : null;
}

list.addEventListener("click", (event) => {
  const control = event.target.closest("button");
  if (!control) return;
  if (control === earlierButton) {
    loadEarlier();
    return;
  }
  const entry = entryOf(control);
  if (!entry) return;
  const r = entry.record;
  if (control.classList.contains("copy-code")) {
    copyFrom(control, control.parentElement.querySelector("pre").textContent);
  } else if (control.classList.contains("copy-message")) {
    copyFrom(control, r.content);
  } else if (control.classList.contains("edit-message")) {
    startEdit(entry);
  } else if (control.classList.contains("regenerate-answer")) {
    if (busy()) return;
    if (!send({ type: "chat.regenerate", message: r.id, client_id: clientId() })) {
      showError(gettext("Not connected. Try again once connected."));
    }
  } else if (control.classList.contains("continue-answer")) {
    if (busy()) return;
    if (!send({ type: "chat.continue", message: r.id, client_id: clientId() })) {
      showError(gettext("Not connected. Try again once connected."));
    }
  } else if (control.dataset.target) {
    // ‹ ›: show the sibling, and the latest branch below it.
    const sibling = Number(control.dataset.target);
    const used = control.classList.contains("branch-previous") ? "previous" : "next";
    showBranch(thread.latestLeaf(sibling), sibling).then(() => {
      // Keep the keyboard where it was: on the same arrow, or the other one at the end.
      const nav = entries.get(sibling)?.el.querySelector(".branches");
      const same = nav?.querySelector(`.branch-${used}`);
      (same && !same.disabled ? same : nav?.querySelector("button:not(:disabled)"))?.focus();
    });
  }
});

// --- Model and system prompt ------------------------------------------------------------

async function postSettings(body) {
  let response;
  try {
    response = await fetch(`/c/${conversation.id}/settings/`, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": data.csrfToken },
      body: JSON.stringify(body),
    });
  } catch {
    throw new Error(gettext("Could not save: check the connection and try again."));
  }
  const answer = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(answer.detail || gettext("Saving failed."));
  conversation = answer.conversation;
  return conversation;
}

async function loadModels() {
  let models = [];
  // Only a list the server gave says "no model": a failed fetch leaves Send alone (the
  // send itself then says what is wrong).
  let listed = false;
  try {
    const response = await fetch("/chat/models/", { credentials: "same-origin" });
    if (response.ok) {
      models = (await response.json()).models;
      listed = true;
    }
  } catch {
    models = [];
  }
  modelPicker.replaceChildren();
  for (const name of models) {
    const option = document.createElement("option");
    option.value = name;
    option.textContent = name;
    modelPicker.append(option);
  }
  if (!models.length) {
    const option = document.createElement("option");
    option.value = "";
    option.textContent = gettext("No model available");
    modelPicker.append(option);
    modelPicker.disabled = true;
    noModel = listed;
    composerState();
    return;
  }
  modelPicker.disabled = false;
  noModel = false;
  composerState();
  if (!models.includes(selectedModel)) selectedModel = models[0];
  modelPicker.value = selectedModel;
}

modelPicker.addEventListener("change", async () => {
  selectedModel = modelPicker.value;
  if (!conversation) return; // a new chat sends it with its first message
  try {
    await postSettings({ model: selectedModel });
    showError("");
  } catch (error) {
    showError(error.message);
  }
});

settingsBox.querySelector("form").addEventListener("submit", async (event) => {
  event.preventDefault();
  settingsStatus.textContent = gettext("Saving…");
  try {
    await postSettings({ system_prompt: systemPrompt.value });
    settingsStatus.textContent = gettext("Saved.");
  } catch (error) {
    settingsStatus.textContent = error.message;
  }
});

// --- Wiring -----------------------------------------------------------------------------

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
    showError(
      gettext("Not connected, so the answer cannot be stopped yet. Try again once connected."),
    );
  }
});
document.addEventListener("keydown", (event) => {
  // Esc stops the streaming answer, wherever the focus is (an open editor takes it first).
  if (event.key === "Escape" && streamingId !== null && !event.defaultPrevented) {
    send({ type: "chat.stop", message: streamingId });
  }
});
// Scrolling up to the top loads the previous window of the branch.
new IntersectionObserver((seen) => {
  if (seen.some((item) => item.isIntersecting)) loadEarlier();
}).observe(earlierButton);

if (conversation) {
  systemPrompt.value = conversation.system_prompt || "";
  settingsBox.hidden = false;
}
systemPrompt.placeholder = data.defaultSystemPrompt
  ? interpolate(gettext("Default: %(prompt)s"), { prompt: data.defaultSystemPrompt })
  : gettext("None: the model's own behaviour");
for (const r of thread.records.values()) trackStreaming(r);
renderThread();
follower.jump();
loadModels();
datasetPicker.refresh();
socket = createSocket({
  onFrame: (frame) => handlers[frame.type]?.(frame),
  onState: onSocketState,
});
input.focus();
