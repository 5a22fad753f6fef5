// One kind, specific sentence for each error code of the chat socket (docs/websocket.md):
// what happened and what the person can do about it. The server's `detail` is the fallback
// for codes this file does not know yet.
import { gettext, interpolate, ngettext, pageLanguage } from "../common/i18n.js";

function duration(ms) {
  const minutes = Math.max(1, Math.ceil(ms / 60000));
  const hours = Math.floor(minutes / 60);
  if (hours === 0) return interpolate(gettext("%(minutes)s min"), { minutes });
  const rest = minutes % 60;
  return rest
    ? interpolate(gettext("%(hours)s h %(minutes)s min"), { hours, minutes: rest })
    : interpolate(gettext("%(hours)s h"), { hours });
}

function clock(date) {
  const hh = String(date.getUTCHours()).padStart(2, "0");
  const mm = String(date.getUTCMinutes()).padStart(2, "0");
  return interpolate(gettext("%(time)s UTC"), { time: `${hh}:${mm}` });
}

function seconds(value) {
  const s = Math.max(1, Math.ceil(Number(value) || 1));
  if (s < 120) return interpolate(ngettext("%(count)s second", "%(count)s seconds", s), { count: s });
  const minutes = Math.ceil(s / 60);
  return interpolate(ngettext("%(count)s minute", "%(count)s minutes", minutes), { count: minutes });
}

export function describeError(frame, now = new Date()) {
  const code = frame && frame.code;
  switch (code) {
    case "frame_too_large":
      return frame.detail
        ? interpolate(
            gettext(
              "That message was too big to send (%(size)s); the connection was reset. " +
                "Shorten it and send it again.",
            ),
            // The server's close reason, "Too big: 70 KB > 64 KB": its numbers only.
            { size: frame.detail.replace(/^Too big: /, "") },
          )
        : gettext("That message was too big to send; the connection was reset. Shorten it and send it again.");
    case "over_budget": {
      const resets = frame.resets_at ? new Date(frame.resets_at) : null;
      if (resets && !Number.isNaN(resets.getTime())) {
        return interpolate(
          gettext("You have used today's token budget; it resets at %(time)s (in %(wait)s)."),
          { time: clock(resets), wait: duration(resets - now) },
        );
      }
      return gettext("You have used today's token budget; it resets at midnight UTC.");
    }
    case "workers_busy":
      return frame.retry_after
        ? interpolate(
            gettext("Every model server is busy right now. Please try again in %(wait)s."),
            { wait: seconds(frame.retry_after) },
          )
        : gettext("Every model server is busy right now. Please try again in a few seconds.");
    case "rate_limit_exceeded":
      return frame.retry_after
        ? interpolate(
            gettext("You have reached your limit of requests or tokens per minute. Please try again in %(wait)s."),
            { wait: seconds(frame.retry_after) },
          )
        : gettext("You have reached your limit of requests or tokens per minute. Please try again in a minute.");
    case "rate_limited":
      return frame.retry_after
        ? interpolate(gettext("Too many answers at once. Please try again in %(wait)s."), {
            wait: seconds(frame.retry_after),
          })
        : gettext("Too many answers at once. Please try again in a moment.");
    case "too_long":
      return frame.limit
        ? interpolate(
            gettext("That message is too long: the limit is %(limit)s characters. Please shorten it."),
            { limit: Number(frame.limit).toLocaleString(pageLanguage()) },
          )
        : gettext("That message is too long. Please shorten it.");
    case "model_unavailable":
    case "no_workers":
    case "model_not_found":
      return gettext("This model is not available right now. Try again shortly, or pick another model.");
    case "region_unavailable":
      return gettext(
        "No model server in the regions you may use is available right now. Try again shortly.",
      );
    case "not_found":
      return gettext("That conversation or message no longer exists.");
    case "bad_state":
      return gettext("That answer cannot be continued: only a stopped or interrupted answer can.");
    case "upstream_failed":
      return gettext("The model server failed while answering. Try again, or continue the answer.");
    case "request_unprocessable":
      return gettext(
        "The model servers could not process this message. Try rewording it, or removing " +
          "unusual characters or pasted binary text.",
      );
    case "upstream_rejected":
      return gettext(
        "The model refused this request, perhaps because the conversation is too long for it.",
      );
    case "deadline_exceeded":
      return gettext("The answer took too long and was cut off. Try again, or continue it.");
    case "generator_lost":
      return gettext("The answer was interrupted when the server restarted. You can continue it.");
    case "unsupported":
    case "unsupported_version":
      return gettext("This page is out of date. Please reload it.");
    case "bad_request":
      return gettext("The request was not understood. Please reload the page.");
    case "internal_error":
      return gettext("Something went wrong on our side. Please try again.");
    default:
      return (frame && frame.detail) || gettext("Something went wrong. Please try again.");
  }
}
