// An answer that goes quiet says so. A worker can freeze mid-answer: the gateway gives it up
// only after its idle timeout (30 s by default) and continues the answer on another worker.
// Meanwhile the socket is fine ("Connected"), so without this the page would show a cursor
// blinking for half a minute. After NOTICE_AFTER of silence the answer says that it is
// waiting, for how long, and what happens next.
import { gettext, interpolate } from "../common/i18n.js";

const NOTICE_AFTER = 4000;
const TICK = 1000;

// ``shown`` runs after the notice appeared or changed: the list keeps it in view.
export function createStallWatch({ firstTokenTimeout, idleTimeout, shown }) {
  const watched = new Map(); // message id -> {el, last, started, timer}

  function describe(state, now) {
    const seconds = Math.round((now - state.last) / 1000);
    if (!state.started) {
      return interpolate(
        gettext(
          "Waiting for the model to start: %(seconds)s s so far. The workers may be busy; " +
            "one that has not started within %(timeout)s s is given up for another.",
        ),
        { seconds, timeout: firstTokenTimeout },
      );
    }
    return interpolate(
      gettext(
        "No new text for %(seconds)s s: the model worker may have stalled. If it does not go " +
          "on within %(timeout)s s, the answer continues on another worker.",
      ),
      { seconds, timeout: idleTimeout },
    );
  }

  function tick(id) {
    const state = watched.get(id);
    if (!state) return;
    const now = Date.now();
    const quiet = now - state.last >= NOTICE_AFTER;
    let notice = state.el.querySelector(".waiting");
    if (quiet && !notice) {
      notice = document.createElement("p");
      notice.className = "waiting";
      notice.setAttribute("role", "status");
      state.el.querySelector(".meta").before(notice);
    }
    if (notice) {
      notice.hidden = !quiet;
      if (quiet) notice.textContent = describe(state, now);
    }
    state.el.toggleAttribute("data-waiting", quiet);
    if (quiet) shown?.();
  }

  return {
    // The answer is streaming and something came (or it just started): the clock restarts.
    heard(id, el, { text }) {
      let state = watched.get(id);
      if (!state) {
        state = { el, last: Date.now(), started: false, timer: null };
        state.timer = setInterval(() => tick(id), TICK);
        watched.set(id, state);
      }
      state.el = el;
      state.last = Date.now();
      if (text) state.started = true;
      tick(id);
    },
    // The answer ended (or left the screen): no more notice.
    ended(id) {
      const state = watched.get(id);
      if (!state) return;
      clearInterval(state.timer);
      state.el.querySelector(".waiting")?.remove();
      state.el.removeAttribute("data-waiting");
      watched.delete(id);
    },
  };
}
