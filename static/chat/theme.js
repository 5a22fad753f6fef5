// Light or dark: the system's preference until the person picks one, then their choice,
// remembered in localStorage. A classic script in <head> (not a module): it must set
// data-theme before the first paint, or a dark-theme user would see a white flash.
(() => {
  // A classic script cannot import static/common/i18n.js: the catalogue's own function, read
  // when a label is made (after the deferred catalogue has run), or the English text.
  const gettext = (text) => (window.django?.gettext ? window.django.gettext(text) : text);
  const KEY = "aiportal.theme";
  const root = document.documentElement;
  const system = window.matchMedia("(prefers-color-scheme: dark)");

  // The theme saved in Settings → Preferences (base.html puts it on <html> with when it was
  // saved): adopted once per save, on every device; the page's toggle still switches this
  // browser until the next save.
  const saved = root.dataset.themeChoice;
  if (saved) {
    const mark = `${saved}@${root.dataset.themeSaved}`;
    try {
      if (localStorage.getItem(`${KEY}.saved`) !== mark) {
        if (saved === "light" || saved === "dark") localStorage.setItem(KEY, saved);
        else localStorage.removeItem(KEY);
        localStorage.setItem(`${KEY}.saved`, mark);
      }
    } catch {
      if (saved === "light" || saved === "dark") root.dataset.theme = saved; // not remembered
    }
  }

  function stored() {
    try {
      const value = localStorage.getItem(KEY);
      return value === "light" || value === "dark" ? value : null;
    } catch {
      return null; // storage disabled: follow the system
    }
  }

  function effective() {
    return stored() || (system.matches ? "dark" : "light");
  }

  function apply() {
    const choice = stored();
    if (choice) root.dataset.theme = choice;
    else delete root.dataset.theme;
    // The code-highlighting stylesheets follow the same choice.
    for (const link of document.querySelectorAll("link[data-theme-css]")) {
      const mine = link.dataset.themeCss;
      link.media = choice ? (choice === mine ? "all" : "not all") : `(prefers-color-scheme: ${mine})`;
    }
    const button = document.getElementById("theme-toggle");
    if (button) {
      const label =
        effective() === "dark" ? gettext("Use the light theme") : gettext("Use the dark theme");
      button.setAttribute("aria-label", label);
      button.title = label;
    }
  }

  function toggle() {
    const next = effective() === "dark" ? "light" : "dark";
    try {
      localStorage.setItem(KEY, next);
    } catch {
      root.dataset.theme = next; // not remembered, but still switched
      return;
    }
    apply();
  }

  apply();
  system.addEventListener("change", apply);
  document.addEventListener("DOMContentLoaded", () => {
    apply();
    document.getElementById("theme-toggle")?.addEventListener("click", toggle);
  });
})();
