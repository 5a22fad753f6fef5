// The header's two menus: "⋯" (on a phone the share, download and model controls fold into
// it, so the title keeps the width) and "Download" (a <details>). Both close on Escape, on a
// click elsewhere, and once a choice is made. The header's panels (Download, Share, System
// prompt) drop down to the same place under it: opening one closes the others, or they
// cover one another.
const header = document.querySelector(".chat-header");
const toggle = document.getElementById("header-menu-toggle");
const menu = document.getElementById("header-menu");
const exportMenu = document.getElementById("export-menu");
const settingsBox = document.getElementById("conversation-settings");
const shareButton = document.getElementById("share-button");
const sharePanel = document.getElementById("share-panel");

function setMenu(open, { focus = false } = {}) {
  header.dataset.menu = open ? "open" : "closed";
  toggle.setAttribute("aria-expanded", String(open));
  if (open && focus) menu.querySelector("button, summary, select, a[href]")?.focus();
}

toggle.addEventListener("click", () => setMenu(header.dataset.menu !== "open", { focus: true }));

document.addEventListener("click", (event) => {
  if (exportMenu?.open && !exportMenu.contains(event.target)) exportMenu.open = false;
  if (header.dataset.menu === "open" && !header.contains(event.target)) setMenu(false);
});

header.addEventListener("keydown", (event) => {
  if (event.key !== "Escape" || event.defaultPrevented) return;
  if (exportMenu?.open) {
    exportMenu.open = false;
    exportMenu.querySelector("summary").focus();
    event.preventDefault(); // the answer keeps streaming: this Escape closed a menu
  } else if (header.dataset.menu === "open") {
    setMenu(false);
    toggle.focus();
    event.preventDefault();
  }
});

// A download leaves the page where it is: close the menus behind it.
for (const link of exportMenu?.querySelectorAll("a") || []) {
  link.addEventListener("click", () => {
    exportMenu.open = false;
    setMenu(false);
  });
}

function closePanelsBut(keep) {
  for (const box of [exportMenu, settingsBox]) {
    if (box && box !== keep && box.open) box.open = false;
  }
  if (sharePanel && sharePanel !== keep && !sharePanel.hidden) {
    sharePanel.hidden = true;
    shareButton.setAttribute("aria-expanded", "false");
  }
}

for (const box of [exportMenu, settingsBox]) {
  // On the click, before the box opens: "toggle" comes a task later, when both would be
  // drawn open for a frame. "toggle" still covers a box opened by a script.
  box?.querySelector("summary").addEventListener("click", () => {
    if (!box.open) closePanelsBut(box);
  });
  box?.addEventListener("toggle", () => {
    if (box.open) closePanelsBut(box);
  });
}
// share_controls.js shows the share panel by its hidden attribute: watch that, whichever of
// the two scripts sees the click first.
if (sharePanel) {
  new MutationObserver(() => {
    if (!sharePanel.hidden) closePanelsBut(sharePanel);
  }).observe(sharePanel, { attributes: true, attributeFilter: ["hidden"] });
}
