// The translations of our scripts. The catalogue (aiportal/js_catalogue.py, a classic
// deferred script placed before every module) defines django.gettext and django.ngettext;
// this module hands them out under the names `manage.py makemessages -d djangojs` looks for.
// Imported rather than used as globals: each file says what it depends on, and a page
// without the catalogue (the error pages, which render without a request) still works, in
// English, instead of stopping at a ReferenceError.
const catalogue = globalThis.django;

export function gettext(text) {
  return catalogue?.gettext ? catalogue.gettext(text) : text;
}

export function ngettext(singular, plural, count) {
  if (catalogue?.ngettext) return catalogue.ngettext(singular, plural, count);
  return count === 1 ? singular : plural;
}

// Named placeholders only ("%(seconds)s"): a translation may put them in another order,
// which positional ones ("%s") would not allow.
export function interpolate(format, values) {
  return format.replace(/%\((\w+)\)s/g, (placeholder, name) =>
    name in values ? String(values[name]) : placeholder,
  );
}

// The page's language (<html lang>, set by the server) for numbers and dates, so that they
// read like the words around them.
export function pageLanguage() {
  return document.documentElement.lang || undefined;
}
