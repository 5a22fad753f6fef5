// The dataset page's "Add a source" (templates/datasets/detail.html; the admin's form has
// source_form.js): only the fields of the kind picked in the menu are shown. Without this
// script every field shows, each labelled, and the server reads only the picked kind's.
const form = document.getElementById("source-form");
const kind = form?.querySelector("#kind");

function show() {
  for (const field of form.querySelectorAll("[data-source-kind]")) {
    const mine = field.dataset.sourceKind === kind.value;
    field.hidden = !mine;
    // A hidden field is not sent either: what is posted is what the person sees.
    for (const input of field.querySelectorAll("input, select, textarea")) input.disabled = !mine;
  }
}

if (kind) {
  kind.addEventListener("change", show);
  show();
}
