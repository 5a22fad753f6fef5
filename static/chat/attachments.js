// Attachments: the composer's chips (paperclip, drag and drop, paste; each file uploaded at
// once with its progress, removable until sent) and a message's attachments in the thread.
// Names are the person's own: always set as text, never as markup. Images are shown through
// the server's thumbnails (the CSP allows our own /chat/attachments/ and nothing else).
import { gettext, interpolate } from "../common/i18n.js";

const UPLOAD_URL = "/chat/attachments/";

function csrfToken() {
  return document.querySelector("input[name=csrfmiddlewaretoken]")?.value || "";
}

// "1.2 MB", "340 KB", "12 bytes"
export function sizeText(bytes) {
  if (bytes >= 1024 * 1024) {
    return interpolate(gettext("%(n)s MB"), { n: (bytes / 1024 / 1024).toFixed(1) });
  }
  if (bytes >= 1024) return interpolate(gettext("%(n)s KB"), { n: Math.round(bytes / 1024) });
  return interpolate(gettext("%(n)s bytes"), { n: bytes });
}

const SVG = "http://www.w3.org/2000/svg";

// A small line icon (no emoji: not every system has a font for them).
export function icon(pathData, className) {
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("viewBox", "0 0 24 24");
  svg.setAttribute("aria-hidden", "true");
  svg.setAttribute("class", className);
  const path = document.createElementNS(SVG, "path");
  path.setAttribute("d", pathData);
  path.setAttribute("fill", "none");
  path.setAttribute("stroke", "currentColor");
  path.setAttribute("stroke-width", "1.6");
  path.setAttribute("stroke-linecap", "round");
  path.setAttribute("stroke-linejoin", "round");
  svg.append(path);
  return svg;
}

const DOCUMENT_ICON = "M7 3h7l4 4v14H7z M14 3v4h4 M9.5 12h6 M9.5 15h6 M9.5 18h4";

function chipElement(item) {
  const chip = document.createElement("li");
  chip.className = `attachment-chip ${item.kind || "document"}`;
  if (item.thumbnail_url) {
    const img = document.createElement("img");
    img.src = item.thumbnail_url;
    img.alt = "";
    img.className = "attachment-thumb";
    chip.append(img);
  } else {
    chip.append(icon(DOCUMENT_ICON, "attachment-icon"));
  }
  const text = document.createElement("span");
  text.className = "attachment-text";
  const name = document.createElement("span");
  name.className = "attachment-name";
  name.textContent = item.name;
  name.title = item.name;
  const size = document.createElement("span");
  size.className = "attachment-size";
  size.textContent = sizeText(item.size);
  text.append(name, size);
  chip.append(text);
  return chip;
}

// A message's attachments under its text: images as thumbnails opening the full image,
// documents as chips that download the file.
export function paintAttachments(el, attachments) {
  let box = el.querySelector(".message-attachments");
  if (!attachments || !attachments.length) {
    box?.remove();
    return;
  }
  if (!box) {
    box = document.createElement("ul");
    box.className = "message-attachments";
    box.setAttribute("aria-label", gettext("Attachments"));
    el.querySelector(".content").after(box);
  }
  box.replaceChildren(
    ...attachments.map((item) => {
      const chip = chipElement(item);
      if (!item.url) return chip;
      const link = document.createElement("a");
      link.href = item.url;
      link.className = "attachment-link";
      link.rel = "noopener";
      if (item.kind === "image") {
        link.target = "_blank";
        link.setAttribute(
          "aria-label",
          interpolate(gettext("Open the image %(name)s"), { name: item.name }),
        );
      } else {
        link.setAttribute("download", "");
        link.setAttribute(
          "aria-label",
          interpolate(gettext("Download %(name)s"), { name: item.name }),
        );
      }
      link.append(...chip.childNodes);
      chip.append(link);
      return chip;
    }),
  );
}

// The composer's attachments. ``limits``: {maxBytes, perMessage}. ``onError(text)`` says
// what went wrong; ``onChange()`` is called when the chips change.
export function createAttachments({ form, input, button, fileInput, list, limits, onError }) {
  const items = []; // {key, name, size, kind, id?, thumbnail_url?, xhr?, chip}
  let nextKey = 1;

  function draw() {
    list.hidden = items.length === 0;
  }

  function remove(item) {
    const index = items.indexOf(item);
    if (index >= 0) items.splice(index, 1);
    item.chip.remove();
    if (item.xhr) item.xhr.abort();
    else if (item.id) {
      // Unsent: removed on the server too (nothing to do if that fails: unsent ones are
      // swept after a day).
      fetch(`${UPLOAD_URL}${item.id}/`, {
        method: "DELETE",
        credentials: "same-origin",
        headers: { "X-CSRFToken": csrfToken() },
      }).catch(() => {});
    }
    draw();
  }

  function addChip(item) {
    const chip = chipElement(item);
    const progress = document.createElement("progress");
    progress.className = "attachment-progress";
    progress.max = 100;
    progress.value = 0;
    progress.setAttribute(
      "aria-label",
      interpolate(gettext("Uploading %(name)s"), { name: item.name }),
    );
    const close = document.createElement("button");
    close.type = "button";
    close.classList.add("attachment-remove", "icon-button");
    close.textContent = "✕";
    close.setAttribute("aria-label", interpolate(gettext("Remove %(name)s"), { name: item.name }));
    close.addEventListener("click", () => {
      remove(item);
      input.focus();
    });
    chip.querySelector(".attachment-text").append(progress);
    chip.append(close);
    chip.dataset.state = "uploading";
    item.chip = chip;
    list.append(chip);
    draw();
  }

  function uploaded(item, body) {
    Object.assign(item, body, { xhr: null });
    const fresh = chipElement(item);
    item.chip.dataset.state = "done";
    item.chip.className = fresh.className;
    // The thumbnail replaces the icon once the server has made it.
    const shown = item.chip.querySelector(".attachment-icon, .attachment-thumb");
    shown.replaceWith(fresh.firstChild);
    item.chip.querySelector(".attachment-progress")?.remove();
    // The server's name (a browser folder or odd characters taken out) and stored size.
    item.chip.querySelector(".attachment-name").textContent = item.name;
    item.chip.querySelector(".attachment-size").textContent = sizeText(item.size);
  }

  function failed(item, text) {
    remove(item);
    onError(text);
  }

  function upload(file) {
    if (items.length >= limits.perMessage) {
      onError(
        interpolate(gettext("A message may carry at most %(limit)s attachments."), {
          limit: limits.perMessage,
        }),
      );
      return;
    }
    if (file.size > limits.maxBytes) {
      onError(
        interpolate(gettext("%(name)s is larger than the limit of %(limit)s."), {
          name: file.name,
          limit: sizeText(limits.maxBytes),
        }),
      );
      return;
    }
    const item = { key: nextKey++, name: file.name, size: file.size, kind: "document" };
    items.push(item);
    addChip(item);
    const body = new FormData();
    body.append("file", file, file.name);
    const xhr = new XMLHttpRequest();
    item.xhr = xhr;
    xhr.open("POST", UPLOAD_URL);
    xhr.setRequestHeader("X-CSRFToken", csrfToken());
    xhr.responseType = "json";
    xhr.upload.addEventListener("progress", (event) => {
      if (!event.lengthComputable) return;
      const bar = item.chip.querySelector(".attachment-progress");
      if (bar) bar.value = Math.round((100 * event.loaded) / event.total);
    });
    xhr.addEventListener("load", () => {
      if (xhr.status === 201 && xhr.response) uploaded(item, xhr.response);
      else if (xhr.status === 413 && !xhr.response?.detail) {
        failed(
          item,
          interpolate(gettext("%(name)s is larger than the limit of %(limit)s."), {
            name: file.name,
            limit: sizeText(limits.maxBytes),
          }),
        );
      } else {
        failed(
          item,
          xhr.response?.detail ||
            interpolate(gettext("%(name)s could not be uploaded."), { name: file.name }),
        );
      }
    });
    xhr.addEventListener("error", () =>
      failed(
        item,
        interpolate(gettext("%(name)s could not be uploaded: check the connection."), {
          name: file.name,
        }),
      ),
    );
    xhr.send(body);
  }

  function addFiles(files) {
    onError("");
    for (const file of files) upload(file);
  }

  button.addEventListener("click", () => fileInput.click());
  fileInput.addEventListener("change", () => {
    addFiles(Array.from(fileInput.files));
    fileInput.value = "";
  });
  // Dropped anywhere on the composer.
  form.addEventListener("dragover", (event) => {
    if (!event.dataTransfer?.types.includes("Files")) return;
    event.preventDefault();
    form.classList.add("dropping");
  });
  form.addEventListener("dragleave", (event) => {
    if (!form.contains(event.relatedTarget)) form.classList.remove("dropping");
  });
  form.addEventListener("drop", (event) => {
    form.classList.remove("dropping");
    if (!event.dataTransfer?.files.length) return;
    event.preventDefault();
    addFiles(Array.from(event.dataTransfer.files));
  });
  // Pasted files (a screenshot); pasted text stays the textarea's.
  input.addEventListener("paste", (event) => {
    const files = Array.from(event.clipboardData?.files || []);
    if (!files.length) return;
    event.preventDefault();
    addFiles(files);
  });
  draw();

  return {
    // Ids of the uploaded ones, in order.
    ids: () => items.filter((item) => item.id).map((item) => item.id),
    uploading: () => items.some((item) => item.xhr),
    // What the chips are, for the sent message's own chips.
    sent: () => items.filter((item) => item.id).map(({ chip, xhr, key, ...rest }) => rest),
    // Sent: the chips leave the composer; the files are the message's now.
    clear() {
      items.splice(0).forEach((item) => item.chip.remove());
      draw();
    },
    // A refused send gives them back.
    restore(saved) {
      for (const body of saved) {
        if (items.some((item) => item.id === body.id)) continue;
        const item = { key: nextKey++, ...body };
        items.push(item);
        addChip(item);
        uploaded(item, body);
      }
    },
  };
}
