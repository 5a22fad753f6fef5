// The chat page's one websocket (protocol v2, docs/websocket.md): connects, reconnects with
// backoff, keeps the connection alive with a heartbeat, and reports its state. What the
// frames mean is chat.js's business; this file only moves them.
import { gettext, interpolate } from "../common/i18n.js";

const PROTOCOL_VERSION = 2;
const CLOSE_UNAUTHENTICATED = 4401;
// The account is pending approval or suspended (accounts/access/sockets.py): retrying cannot help.
const CLOSE_ACCOUNT_INACTIVE = 4403;
// A frame over the server's size limit (aiportal/serve.py): the reason says the limit.
const CLOSE_MESSAGE_TOO_BIG = 1009;
// Backoff: 0.5 s doubling to 30 s, each wait drawn from its upper half (jitter), so that the
// clients of a restarted server do not all come back in the same second.
const BACKOFF_FIRST_MS = 500;
const BACKOFF_CAP_MS = 30000;
// Heartbeat: proxies commonly close a connection idle for 60-100 s; a ping every 25 s keeps
// it busy. No pong (nor any other frame) 10 s after a ping: the connection is dead even if
// the browser has not noticed (a laptop waking up, a NAT that forgot it), so reconnect.
const PING_EVERY_MS = 25000;
const PONG_WITHIN_MS = 10000;

export function backoffDelay(attempt, random = Math.random) {
  const ceiling = Math.min(BACKOFF_CAP_MS, BACKOFF_FIRST_MS * 2 ** attempt);
  return Math.round(ceiling * (0.5 + random() / 2));
}

// States: "connecting" (the first time), "open", "reconnecting" (info.delay in ms until the
// next try), "offline" (the browser says there is no network), "signed-out" (close 4401:
// no reconnect, the person must sign in again), "account-inactive" (close 4403: pending or
// suspended, no reconnect).
export function createSocket({
  onFrame,
  onState,
  url = defaultUrl(),
  pingEvery = PING_EVERY_MS,
  pongWithin = PONG_WITHIN_MS,
}) {
  let ws = null;
  let attempt = 0;
  let retryTimer = null;
  let countdown = null;
  let pingTimer = null;
  let pongTimer = null;
  let stopped = false;

  function state(name, info = {}) {
    onState(name, info);
  }

  function connect() {
    clearTimeout(retryTimer);
    clearInterval(countdown);
    retryTimer = null;
    if (stopped) return;
    if (navigator.onLine === false) {
      state("offline");
      return; // the "online" event brings it back
    }
    state(attempt === 0 ? "connecting" : "reconnecting", { delay: 0 });
    const current = new WebSocket(url);
    ws = current;
    current.addEventListener("open", () => {
      if (ws !== current) return;
      attempt = 0;
      heartbeat();
      state("open");
    });
    current.addEventListener("message", (event) => {
      if (ws !== current) return;
      alive();
      let frame;
      try {
        frame = JSON.parse(event.data);
      } catch {
        return; // the server only sends JSON; anything else is not ours to show
      }
      if (frame.type === "pong") return;
      onFrame(frame);
    });
    current.addEventListener("close", (event) => {
      if (ws !== current) return;
      ws = null;
      stopHeartbeat();
      if (event.code === CLOSE_UNAUTHENTICATED) {
        stopped = true;
        state("signed-out");
        return;
      }
      if (event.code === CLOSE_ACCOUNT_INACTIVE) {
        stopped = true;
        state("account-inactive");
        return;
      }
      if (event.code === CLOSE_MESSAGE_TOO_BIG) {
        // Said like any error frame (chat.js shows it by the composer); then reconnect.
        onFrame({ type: "error", code: "frame_too_large", detail: event.reason });
      }
      scheduleRetry();
    });
  }

  function scheduleRetry() {
    if (stopped || retryTimer !== null) return;
    if (navigator.onLine === false) {
      state("offline");
      return;
    }
    const delay = backoffDelay(attempt);
    const due = Date.now() + delay;
    attempt += 1;
    state("reconnecting", { delay });
    retryTimer = setTimeout(connect, delay);
    // Count the wait down once a second, so that "Reconnecting in 4 s…" stays true.
    countdown = setInterval(() => {
      if (retryTimer === null) return;
      state("reconnecting", { delay: Math.max(0, due - Date.now()) });
    }, 1000);
  }

  // Skip the wait when there is reason to think the network is back.
  function retryNow() {
    if (stopped || ws !== null) return;
    attempt = Math.min(attempt, 1);
    connect();
  }

  function heartbeat() {
    stopHeartbeat();
    pingTimer = setInterval(() => {
      if (!isOpen()) return;
      ws.send(JSON.stringify({ type: "ping", v: PROTOCOL_VERSION }));
      if (pongTimer === null) pongTimer = setTimeout(dead, pongWithin);
    }, pingEvery);
  }

  function alive() {
    clearTimeout(pongTimer);
    pongTimer = null;
  }

  function stopHeartbeat() {
    clearInterval(pingTimer);
    alive();
  }

  function dead() {
    pongTimer = null;
    const current = ws;
    if (!current) return;
    // Do not wait for the close handshake of a dead connection: that can take minutes.
    ws = null;
    stopHeartbeat();
    current.close(4000, "no pong");
    scheduleRetry();
  }

  function isOpen() {
    return ws !== null && ws.readyState === WebSocket.OPEN;
  }

  window.addEventListener("online", retryNow);
  window.addEventListener("offline", () => {
    if (ws === null && !stopped) {
      clearTimeout(retryTimer);
      clearInterval(countdown);
      retryTimer = null;
      state("offline");
    }
  });
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible") retryNow();
  });

  connect();

  return {
    // False when not connected: the frame is not sent, and not queued (see chat.js).
    send(frame) {
      if (!isOpen()) return false;
      ws.send(JSON.stringify({ ...frame, v: PROTOCOL_VERSION }));
      return true;
    },
    get open() {
      return isOpen();
    },
  };
}

function defaultUrl() {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  return `${scheme}://${location.host}/ws/chat/`;
}

// What #socket-status says for each state; chat.js calls this from onState.
export function describeState(name, info = {}) {
  switch (name) {
    case "connecting":
      return gettext("Connecting…");
    case "open":
      return gettext("Connected");
    case "reconnecting": {
      const seconds = Math.ceil((info.delay || 0) / 1000);
      return seconds > 0
        ? interpolate(gettext("Reconnecting in %(seconds)s s…"), { seconds })
        : gettext("Reconnecting…");
    }
    case "offline":
      return gettext("Offline");
    case "signed-out":
      // Followed by chat.js's link, "sign in again".
      return gettext("Signed out: ");
    case "account-inactive":
      // Followed by chat.js's link, "see why".
      return gettext("This account cannot chat now: ");
    default:
      return name;
  }
}
