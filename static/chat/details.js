// What an answer's details say about how it was served, in one voice. A worker that failed
// before the first token (the next one was tried) and one that died mid-answer (another
// continued the answer from its text) are both a failover of the answer: one row says which
// happened, rather than "Failover: no" beside "Continued on another worker: yes".
import { gettext, interpolate, ngettext } from "../common/i18n.js";

export function failoverText(metrics) {
  const before = Number(metrics.failovers || 0);
  const during = Number(metrics.continued || 0); // true on answers saved before it counted
  if (!before && !during) return gettext("no");
  const parts = [];
  if (before) {
    parts.push(
      interpolate(
        ngettext(
          "%(count)s worker failed before the first token",
          "%(count)s workers failed before the first token",
          before,
        ),
        { count: before },
      ),
    );
  }
  if (during) {
    parts.push(
      during > 1
        ? interpolate(
            ngettext(
              "the worker stopped mid-answer and another continued it (%(count)s time)",
              "the worker stopped mid-answer and another continued it (%(count)s times)",
              during,
            ),
            { count: during },
          )
        : gettext("the worker stopped mid-answer and another continued it"),
    );
  }
  return interpolate(gettext("yes: %(what)s"), { what: parts.join("; ") });
}
