// Keyboard shortcuts, the ones people know from the other chat apps, and the dialog that
// lists them ("?" outside a text field, Ctrl+/ anywhere, or the ⌨ button). Esc stopping an
// answer is chat.js's; the sidebar does what it owns on "chat:toggle-sidebar" and
// "chat:focus-search". Cmd works where Ctrl is named, for Mac keyboards.
import { gettext } from "../common/i18n.js";
import { copyText } from "./clipboard.js";

const dialog = document.getElementById("shortcuts-dialog");
const opener = document.getElementById("shortcuts-open");
const status = document.getElementById("shortcut-status");
const composer = document.getElementById("composer-input");

function typing(target) {
  return Boolean(target.closest?.("input, textarea, select, [contenteditable='true']"));
}

function openHelp() {
  if (!dialog.open) dialog.showModal();
}

function say(text) {
  // Emptied first, so the same words said twice are announced twice.
  status.textContent = "";
  requestAnimationFrame(() => {
    status.textContent = text;
  });
}

async function copyLastAnswer() {
  const answers = document.querySelectorAll("#messages .message.assistant .content");
  const last = answers[answers.length - 1];
  if (!last || !last.innerText.trim()) {
    say(gettext("There is no answer to copy yet."));
    return;
  }
  say((await copyText(last.innerText)) ? gettext("Copied the last answer.") : gettext("Copying failed."));
}

// key (lowercase) and modifiers → what it does. `ctrl` means Ctrl or Cmd.
const SHORTCUTS = [
  { key: "o", ctrl: true, shift: true, run: () => document.querySelector(".new-chat").click() },
  { key: "k", ctrl: true, run: () => document.dispatchEvent(new Event("chat:focus-search")) },
  { key: "s", ctrl: true, shift: true, run: () => document.dispatchEvent(new Event("chat:toggle-sidebar")) },
  { key: "c", ctrl: true, shift: true, run: copyLastAnswer },
  { key: "escape", shift: true, run: () => composer.focus() },
  { key: "/", ctrl: true, run: openHelp },
];

// On the window, capturing: before chat.js's Esc (which stops an answer) sees Shift+Esc, and
// before a text field takes Ctrl+K for itself.
window.addEventListener("keydown", (event) => {
  if (event.isComposing || event.altKey) return;
  const key = event.key.toLowerCase();
  const ctrl = event.ctrlKey || event.metaKey;
  const found = SHORTCUTS.find(
    (s) => s.key === key && Boolean(s.ctrl) === ctrl && Boolean(s.shift) === event.shiftKey,
  );
  if (found) {
    event.preventDefault();
    found.run();
  } else if (event.key === "?" && !ctrl && !typing(event.target)) {
    event.preventDefault();
    openHelp();
  }
}, true);

opener.addEventListener("click", openHelp);
// A click on the backdrop (outside the dialog's box) closes it, as Esc does.
dialog.addEventListener("click", (event) => {
  if (event.target === dialog) {
    const box = dialog.getBoundingClientRect();
    const inside =
      event.clientX >= box.left && event.clientX <= box.right &&
      event.clientY >= box.top && event.clientY <= box.bottom;
    if (!inside) dialog.close();
  }
});
