// Keeping the newest text in view. While the reader is at the bottom of the messages, the
// list follows what streams in; once they scroll up to read, it stays where they are, and a
// "Jump to latest" button brings them back (and following with it).

// Within this many pixels of the end counts as "at the bottom": a line of slack, so that
// sub-pixel rounding and a growing last line do not read as scrolling away.
const SLACK = 48;

export function createFollower({ list, button }) {
  let following = true;

  function distance() {
    return list.scrollHeight - list.scrollTop - list.clientHeight;
  }

  function show() {
    button.hidden = following || distance() <= SLACK;
  }

  function toBottom() {
    list.scrollTop = list.scrollHeight;
  }

  // Only the reader moves the list away from the end: the list's own growth fires no scroll
  // event, and ``toBottom`` lands at the end. So a scroll that leaves the end is theirs.
  list.addEventListener(
    "scroll",
    () => {
      following = distance() <= SLACK;
      show();
    },
    { passive: true },
  );

  button.addEventListener("click", () => {
    following = true;
    toBottom();
    show();
  });

  return {
    // After the list grew (a new message, streamed text): keep up when following.
    grew() {
      if (following) toBottom();
      show();
    },
    // The person sent something or switched branches: they want the end again.
    jump() {
      following = true;
      toBottom();
      show();
    },
    // Something to read is shown on purpose away from the end (a switched branch's message).
    release() {
      following = distance() <= SLACK;
      show();
    },
    get following() {
      return following;
    },
  };
}
