// The new key's Copy button (templates/gateway/key_created.html): the key is shown once, so
// copying it must not depend on selecting a long string by hand, least of all on a phone.
import { copyFrom } from "../chat/clipboard.js";

for (const button of document.querySelectorAll("button[data-copy-from]")) {
  const field = document.getElementById(button.dataset.copyFrom);
  if (!field) continue;
  button.hidden = false; // without this script it would do nothing: it stays hidden
  button.addEventListener("click", () => copyFrom(button, field.value));
}
