// Live refill progress on the admin's dataset and job pages. Events come through the
// staff-only socket ws/admin/jobs/<id>/ (the job's channel-layer group); when no socket can
// be had, the page polls the staff-only JSON instead. Text goes in with textContent only.
import { gettext } from "../common/i18n.js";

const POLL_MS = 1000;
const DONE = new Set(["succeeded", "failed", "cancelled"]);
const REFUSED = {
  4401: gettext("Signed out: sign in again to follow this refill."),
  4403: gettext("Staff only."),
};

function draw(panel, frame) {
  const bar = panel.querySelector(".dataset-job-bar");
  bar.value = frame.progress;
  bar.textContent = `${Math.round(frame.progress * 100)} %`;
  panel.querySelector(".dataset-job-percent").textContent = `${Math.round(frame.progress * 100)} %`;
  panel.querySelector(".dataset-job-status").textContent = frame.status;
  for (const [name, value] of Object.entries(frame.counts || {})) {
    const cell = panel.querySelector(`[data-count="${name}"]`);
    if (cell) cell.textContent = String(value);
  }
  if (typeof frame.message === "string") {
    panel.querySelector(".dataset-job-message").textContent = frame.message;
  }
  panel.dataset.status = frame.status;
  if (DONE.has(frame.status)) {
    // Nothing left to cancel: the button was drawn while the job was still active.
    for (const button of document.querySelectorAll("#dataset-cancel")) {
      button.closest("li").hidden = true;
    }
  }
  panel.dataset.updates = String(Number(panel.dataset.updates || "0") + 1);
}

function say(panel, text) {
  panel.querySelector(".dataset-job-live").textContent = text;
}

async function poll(panel) {
  say(panel, gettext("Live updates unavailable: checking every second."));
  while (!DONE.has(panel.dataset.status)) {
    try {
      const response = await fetch(panel.dataset.poll, {
        credentials: "same-origin",
        headers: { Accept: "application/json" },
      });
      if (response.ok && response.headers.get("content-type")?.includes("json")) {
        draw(panel, await response.json());
      } else {
        say(panel, gettext("Could not read the refill's progress (signed out?)."));
        return;
      }
    } catch {
      // A failed request is retried at the next tick.
    }
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
  say(panel, "");
}

function follow(panel) {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  let socket;
  try {
    socket = new WebSocket(`${scheme}//${location.host}${panel.dataset.socket}`);
  } catch {
    poll(panel);
    return;
  }
  let opened = false;
  socket.addEventListener("open", () => {
    opened = true;
    panel.dataset.live = "socket";
  });
  socket.addEventListener("message", (event) => {
    let frame;
    try {
      frame = JSON.parse(event.data);
    } catch {
      return;
    }
    if (frame.type !== "datasets.job") return;
    draw(panel, frame);
    if (DONE.has(frame.status)) socket.close(1000);
  });
  socket.addEventListener("close", (event) => {
    panel.dataset.live = "";
    if (REFUSED[event.code]) {
      say(panel, REFUSED[event.code]);
    } else if (!DONE.has(panel.dataset.status)) {
      // Never opened, or dropped mid-refill: the JSON tells the rest.
      if (!opened || event.code !== 1000) poll(panel);
    }
  });
}

for (const panel of document.querySelectorAll(".dataset-job")) {
  if (!DONE.has(panel.dataset.status)) follow(panel);
}
