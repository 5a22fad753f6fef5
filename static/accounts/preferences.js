// Settings → Preferences: the default-model menu offers the models this person may use now
// (the chat picker's own list). The server rendered only the saved model and "the admins'
// default": without this script those two can still be chosen.
import { gettext, interpolate } from "../common/i18n.js";

const form = document.querySelector("form[data-models-url]");
const menu = form?.querySelector("#id_default_model");

async function offerModels() {
  let models = [];
  try {
    const answer = await fetch(form.dataset.modelsUrl, { headers: { Accept: "application/json" } });
    if (answer.ok) models = (await answer.json()).models || [];
  } catch {
    return; // offline or refused: the menu keeps what it has
  }
  const present = new Set([...menu.options].map((option) => option.value));
  for (const name of models) {
    if (!present.has(name)) menu.append(new Option(name, name));
  }
  const saved = menu.value;
  if (saved && !models.includes(saved)) {
    const option = [...menu.options].find((o) => o.value === saved);
    if (option) {
      option.textContent = interpolate(gettext("%(model)s (not available now)"), { model: saved });
    }
  }
  menu.dataset.loaded = "true";
}

if (menu) offerModels();
