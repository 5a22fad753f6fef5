// Copy buttons: the Clipboard API where the page may use it, else the old textarea and
// execCommand way (an insecure origin, a refused permission). The button says how it went.
import { gettext } from "../common/i18n.js";

export async function copyText(text) {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    // No clipboard API (an insecure origin, a refused permission): the old way.
    const area = document.createElement("textarea");
    area.value = text;
    area.setAttribute("readonly", "");
    area.className = "clipboard-fallback";
    document.body.append(area);
    area.select();
    let ok = false;
    try {
      ok = document.execCommand("copy");
    } catch {
      ok = false;
    }
    area.remove();
    return ok;
  }
}

export async function copyFrom(control, text) {
  const ok = await copyText(text);
  control.focus(); // the fallback's textarea took it
  // The label to come back to, kept across quick repeated clicks.
  control.dataset.label ??= control.textContent;
  control.textContent = ok ? gettext("Copied") : gettext("Copy failed");
  clearTimeout(Number(control.dataset.timer));
  control.dataset.timer = String(
    setTimeout(() => {
      control.textContent = control.dataset.label;
    }, 1500),
  );
}
