// The admin's dataset sources (datasets/admin/forms.py, SourceInlineForm): show each source
// only the fields of its kind. Without this script every field shows, each labelled, and the
// server reads only the chosen kind's anyway.

const KIND_FIELDS = {
  urls: ["urls"],
  sitemap: ["sitemap_url"],
  folder: ["folder_root", "folder_path"],
  upload: ["files"],
};
const KIND_SELECT = 'select[name^="sources-"][name$="-kind"]';

function sync(select) {
  const source = select.closest(".inline-related");
  if (!source) return;
  for (const [kind, names] of Object.entries(KIND_FIELDS)) {
    for (const name of names) {
      const row = source.querySelector(`.field-${name}`);
      if (row) row.classList.toggle("source-field-off", kind !== select.value);
    }
  }
}

function syncAll() {
  document.querySelectorAll(KIND_SELECT).forEach(sync);
}

document.addEventListener("change", (event) => {
  if (event.target.matches(KIND_SELECT)) sync(event.target);
});
// A source added with "Add another Source" (Django's inlines send this event).
document.addEventListener("formset:added", syncAll);
if (document.readyState === "loading") {
  document.addEventListener("DOMContentLoaded", syncAll);
} else {
  syncAll();
}
