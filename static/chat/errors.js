// One kind, specific sentence for each error code of the chat socket (docs/websocket.md):
// what happened and what the person can do about it. The server's `detail` is the fallback
// for codes this file does not know yet.

function duration(ms) {
  const minutes = Math.max(1, Math.ceil(ms / 60000));
  const hours = Math.floor(minutes / 60);
  if (hours === 0) return `${minutes} min`;
  const rest = minutes % 60;
  return rest ? `${hours} h ${rest} min` : `${hours} h`;
}

function clock(date) {
  const hh = String(date.getUTCHours()).padStart(2, "0");
  const mm = String(date.getUTCMinutes()).padStart(2, "0");
  return `${hh}:${mm} UTC`;
}

function seconds(value) {
  const s = Math.max(1, Math.ceil(Number(value) || 1));
  return s === 1 ? "1 second" : s < 120 ? `${s} seconds` : `${Math.ceil(s / 60)} minutes`;
}

export function describeError(frame, now = new Date()) {
  const code = frame && frame.code;
  switch (code) {
    case "frame_too_large":
      return (
        "That message was too big to send" +
        (frame.detail ? ` (${frame.detail.replace(/^Too big: /, "")})` : "") +
        "; the connection was reset. Shorten it and send it again."
      );
    case "over_budget": {
      const resets = frame.resets_at ? new Date(frame.resets_at) : null;
      if (resets && !Number.isNaN(resets.getTime())) {
        return (
          `You have used today's token budget; it resets at ${clock(resets)} ` +
          `(in ${duration(resets - now)}).`
        );
      }
      return "You have used today's token budget; it resets at midnight UTC.";
    }
    case "workers_busy":
      return frame.retry_after
        ? `Every model server is busy right now. Please try again in ${seconds(frame.retry_after)}.`
        : "Every model server is busy right now. Please try again in a few seconds.";
    case "rate_limited":
      return frame.retry_after
        ? `Too many answers at once. Please try again in ${seconds(frame.retry_after)}.`
        : "Too many answers at once. Please try again in a moment.";
    case "too_long":
      return frame.limit
        ? `That message is too long: the limit is ${Number(frame.limit).toLocaleString("en")} characters. Please shorten it.`
        : "That message is too long. Please shorten it.";
    case "model_unavailable":
    case "no_workers":
    case "model_not_found":
      return "This model is not available right now. Try again shortly, or pick another model.";
    case "region_unavailable":
      return "No model server in the regions you may use is available right now. Try again shortly.";
    case "not_found":
      return "That conversation or message no longer exists.";
    case "bad_state":
      return "That answer cannot be continued: only a stopped or interrupted answer can.";
    case "upstream_failed":
      return "The model server failed while answering. Try again, or continue the answer.";
    case "request_unprocessable":
      return (
        "The model servers could not process this message. Try rewording it, or removing " +
        "unusual characters or pasted binary text."
      );
    case "upstream_rejected":
      return "The model refused this request, perhaps because the conversation is too long for it.";
    case "deadline_exceeded":
      return "The answer took too long and was cut off. Try again, or continue it.";
    case "generator_lost":
      return "The answer was interrupted when the server restarted. You can continue it.";
    case "unsupported":
    case "unsupported_version":
      return "This page is out of date. Please reload it.";
    case "bad_request":
      return "The request was not understood. Please reload the page.";
    case "internal_error":
      return "Something went wrong on our side. Please try again.";
    default:
      return (frame && frame.detail) || "Something went wrong. Please try again.";
  }
}
