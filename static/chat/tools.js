// Tools over MCP in the chat page: the composer's picker (which tools this conversation
// offers the model) and each tool call of an answer as a collapsible step (tool, arguments,
// result, duration; Approve/Deny while a call waits for the person).
// Arguments and results come from the model and from a tool server, untrusted: they are only
// ever set as textContent, never parsed as HTML or markdown.
import { gettext, interpolate } from "../common/i18n.js";

// The picker. Its list is what the person may use now, as the page was rendered; the
// server checks every turn again and refuses a tool that is no longer theirs.
export function createToolPicker({ root, tools, chosen }) {
  const summary = root.querySelector("summary");
  const list = root.querySelector(".tool-options");
  const available = tools || [];
  const selected = new Set((chosen || []).filter((n) => available.some((t) => t.name === n)));
  root.hidden = available.length === 0;

  function label() {
    summary.textContent = selected.size
      ? interpolate(gettext("Tools (%(count)s)"), { count: selected.size })
      : gettext("Tools");
  }

  for (const tool of available) {
    const item = document.createElement("label");
    item.className = "tool-option";
    const box = document.createElement("input");
    box.type = "checkbox";
    box.value = tool.name;
    box.checked = selected.has(tool.name);
    box.addEventListener("change", () => {
      if (box.checked) selected.add(tool.name);
      else selected.delete(tool.name);
      label();
    });
    const text = document.createElement("span");
    const name = document.createElement("strong");
    name.textContent = tool.name;
    text.append(name);
    if (tool.description) {
      const description = document.createElement("small");
      description.textContent = tool.description;
      text.append(description);
    }
    item.append(box, text);
    list.append(item);
  }
  label();

  // A popover, as the datasets' one: a click elsewhere or Esc closes it.
  document.addEventListener("click", (event) => {
    if (root.open && !root.contains(event.target)) root.open = false;
  });
  root.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && root.open) {
      event.preventDefault();
      root.open = false;
      summary.focus();
    }
  });

  return { names: () => available.filter((t) => selected.has(t.name)).map((t) => t.name) };
}

function statusText(step) {
  switch (step.status) {
    case "running":
      return gettext("running…");
    case "waiting":
      return gettext("waiting for your approval");
    case "ok":
      return gettext("done");
    case "timeout":
      return gettext("timed out");
    case "denied":
      return gettext("denied");
    case "stopped":
      return gettext("stopped");
    default:
      return gettext("failed");
  }
}

function block(title, text) {
  const wrap = document.createElement("div");
  wrap.className = "tool-step-part";
  const heading = document.createElement("h3");
  heading.textContent = title;
  const pre = document.createElement("pre");
  pre.textContent = text; // as text, whatever it holds
  wrap.append(heading, pre);
  return wrap;
}

function prettyArguments(text) {
  try {
    return JSON.stringify(JSON.parse(text), null, 2);
  } catch {
    return text;
  }
}

// Draws an answer's steps above its text; keeps open the ones the person opened. Once the
// answer is over (``live`` false), a step saved as running or waiting (its generation died
// meanwhile) shows as stopped, with nothing left to approve.
export function paintSteps(messageEl, steps, decide, live) {
  let box = messageEl.querySelector(".tool-steps");
  if (!steps || !steps.length) {
    if (box) box.remove();
    return;
  }
  if (!box) {
    box = document.createElement("div");
    box.className = "tool-steps";
    messageEl.querySelector(".content").before(box);
  }
  const open = new Set(
    [...box.querySelectorAll("details[open]")].map((el) => el.dataset.call),
  );
  box.replaceChildren();
  for (const saved of steps) {
    const unfinished = saved.status === "running" || saved.status === "waiting";
    const step = !live && unfinished ? { ...saved, status: "stopped" } : saved;
    const details = document.createElement("details");
    details.className = "tool-step";
    details.dataset.call = step.id;
    details.dataset.status = step.status;
    details.open = open.has(step.id) || step.status === "waiting";
    const summary = document.createElement("summary");
    const name = document.createElement("span");
    name.className = "tool-step-name";
    name.textContent = interpolate(gettext("Tool: %(tool)s"), { tool: step.tool });
    const state = document.createElement("span");
    state.className = "tool-step-status";
    const parts = [statusText(step)];
    if (typeof step.duration_ms === "number" && step.status !== "denied") {
      parts.push(interpolate(gettext("%(ms)s ms"), { ms: step.duration_ms }));
    }
    state.textContent = parts.join(" · ");
    summary.append(name, state);
    details.append(summary, block(gettext("Arguments"), prettyArguments(step.arguments)));
    if (step.result) details.append(block(gettext("Result"), step.result));
    if (step.status === "waiting") {
      const actions = document.createElement("p");
      actions.className = "tool-step-actions";
      const approve = document.createElement("button");
      approve.type = "button";
      approve.className = "primary";
      approve.textContent = gettext("Approve");
      const deny = document.createElement("button");
      deny.type = "button";
      deny.textContent = gettext("Deny");
      approve.addEventListener("click", () => decide(step.id, true));
      deny.addEventListener("click", () => decide(step.id, false));
      actions.append(approve, deny);
      details.append(actions);
    }
    box.append(details);
  }
}

// A step frame (tool.call, tool.approval, tool.result) into the answer's record: by call id,
// so a frame seen twice (a resume's snapshot, then the frame) changes nothing.
export function stepMerge(record, step) {
  const steps = record.tool_steps ? [...record.tool_steps] : [];
  const index = steps.findIndex((s) => s.id === step.id);
  if (index >= 0) steps[index] = step;
  else steps.push(step);
  record.tool_steps = steps;
}
