// The admin's live pool page: polls the staff-only JSON every 2 s and redraws the table.
// Text goes in with textContent only: model names and errors come from workers.
import { gettext, interpolate } from "../common/i18n.js";

const POLL_MS = 2000;
const table = document.getElementById("pool-table");

function cell(row, text, className) {
  const td = document.createElement("td");
  td.textContent = text;
  if (className) td.className = className;
  row.append(td);
  return td;
}

function seconds(value) {
  return value === null || value === undefined
    ? gettext("never")
    : interpolate(gettext("%(seconds)s s"), { seconds: value.toFixed(1) });
}

function percent(value) {
  return value === null || value === undefined ? "—" : `${Math.round(value * 100)} %`;
}

function hitRates(row, w) {
  // Two rates, one per line: of the gateway's recent requests, and the worker's own.
  const td = cell(row, "", "num pool-hits");
  for (const [value, source] of [
    [w.prefix_hit_rate_seen, gettext("%(rate)s requests")],
    [w.prefix_hit_rate_worker, gettext("%(rate)s worker")],
  ]) {
    const line = document.createElement("span");
    line.className = "pool-hit";
    line.textContent = interpolate(source, { rate: percent(value) });
    td.append(line);
  }
}

function actionForm(worker, action, label) {
  const form = document.createElement("form");
  form.method = "post";
  form.action = table.dataset.actionUrl.replace("/0/ACTION/", `/${worker.admin_id}/${action}/`);
  const token = document.createElement("input");
  token.type = "hidden";
  token.name = "csrfmiddlewaretoken";
  token.value = table.dataset.csrf;
  const button = document.createElement("button");
  button.type = "submit";
  button.textContent = label;
  form.append(token, button);
  return form;
}

function workerRow(w) {
  const tr = document.createElement("tr");
  tr.className = !w.healthy ? "down" : w.note ? "up quiet" : "up";
  cell(tr, w.name).title = w.url;
  const source = cell(tr, w.source);
  if (w.source === "dns") {
    const origin = document.createElement("span");
    origin.className = "pool-origin";
    origin.textContent = ` ${w.origin}`;
    source.append(origin);
  }
  cell(tr, w.region);
  // The verdict and its reason, so "down" never sits beside "in service" unexplained.
  const routing = cell(tr, "", "pool-routing");
  const verdict = document.createElement("span");
  verdict.className = "pool-verdict";
  verdict.textContent = w.routing;
  const reason = document.createElement("span");
  reason.className = "pool-reason";
  reason.textContent = w.routing_reason;
  routing.append(verdict, " ", reason);
  const health = cell(tr, w.healthy ? gettext("healthy") : gettext("down"));
  health.title = w.error || "";
  if (w.healthy && w.note) {
    // Healthy, but its load is unknown (vLLM's --disable-log-stats): not "down".
    const note = document.createElement("span");
    note.className = "pool-note";
    // The last word (the flag) on one line: "--disable-log-stats?" broken at its hyphens
    // reads as nonsense.
    const cut = w.note.lastIndexOf(" ") + 1;
    const flag = document.createElement("span");
    flag.className = "pool-flag";
    flag.textContent = w.note.slice(cut);
    note.append(w.note.slice(0, cut), flag);
    health.replaceChildren(note);
  }
  cell(tr, w.models.length ? w.models.join(", ") : "—");
  cell(tr, w.note ? "—" : String(Math.round(w.running)), "num");
  cell(tr, w.note ? "—" : String(Math.round(w.waiting)), "num");
  cell(tr, w.note ? "—" : `${Math.round(w.kv_usage * 100)} %`, "num");
  cell(tr, w.kv_capacity, "num pool-capacity");
  hitRates(tr, w);
  cell(tr, String(w.inflight), "num");
  cell(tr, w.circuit);
  cell(tr, w.note ? "—" : seconds(w.metrics_age), "num");
  cell(
    tr,
    !w.enabled ? gettext("disabled") : w.draining ? gettext("draining") : gettext("in service"),
  );
  const actions = cell(tr, "");
  if (w.admin_id && table.dataset.canChange === "1") {
    actions.append(
      w.enabled && !w.draining
        ? actionForm(w, "drain", gettext("Drain"))
        : actionForm(w, "enable", gettext("Enable")),
    );
  }
  return tr;
}

function dnsRow(d) {
  const tr = document.createElement("tr");
  cell(tr, d.url);
  cell(tr, d.region);
  cell(tr, d.addresses.length ? d.addresses.join(", ") : gettext("none"));
  cell(tr, d.error || "");
  return tr;
}

function placeholder(columns, text) {
  const tr = document.createElement("tr");
  cell(tr, text).colSpan = columns;
  return tr;
}

function render(status) {
  const rows = status.workers.map(workerRow);
  document.getElementById("pool-rows").replaceChildren(
    ...(rows.length
      ? rows
      : [placeholder(16, gettext("No worker is configured, or none has been probed yet."))]),
  );
  const dns = status.dns.map(dnsRow);
  document
    .getElementById("pool-dns")
    .replaceChildren(...(dns.length ? dns : [placeholder(4, gettext("None."))]));
  document.getElementById("pool-snapshot-age").textContent = seconds(status.snapshot_age);
  document.getElementById("pool-prober").textContent = status.prober || gettext("no prober yet");
}

async function refresh() {
  const note = document.getElementById("pool-refresh");
  try {
    const response = await fetch(table.dataset.source, {
      credentials: "same-origin",
      headers: { Accept: "application/json" },
    });
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    render(await response.json());
    table.dataset.refreshed = String(Date.now());
    note.textContent = gettext("Refreshes every 2 s.");
    note.classList.remove("pool-stale");
  } catch (error) {
    note.textContent = interpolate(gettext("Refresh failed (%(error)s); retrying."), {
      error: error.message,
    });
    note.classList.add("pool-stale");
  }
}

if (table) {
  refresh();
  setInterval(refresh, POLL_MS);
}
