// Live progress of the refills shown on a dataset page. Polled, once a second, only while a
// job is queued or running: a page opened mid-refill, or one whose socket would have missed
// an event, still shows the truth, and a finished refill reloads the page (new documents,
// new version) once.
const ACTIVE = new Set(["queued", "running"]);

async function poll(row) {
  let response;
  try {
    response = await fetch(`/datasets/api/jobs/${row.dataset.job}/`, { credentials: "same-origin" });
  } catch {
    return true; // a network blip: try again next second
  }
  if (!response.ok) return false;
  const job = await response.json();
  row.dataset.status = job.status;
  row.querySelector(".job-status").textContent = job.status;
  row.querySelector(".job-progress").value = job.progress;
  const c = job.counts;
  row.querySelector(".job-counts").textContent =
    `${c.seen} / ${c.added} / ${c.reused} / ${c.removed} / ${c.errors}`;
  row.querySelector(".job-message").textContent = job.message;
  return ACTIVE.has(job.status);
}

for (const row of document.querySelectorAll("tr.job")) {
  if (!ACTIVE.has(row.dataset.status)) continue;
  const timer = setInterval(async () => {
    if (!(await poll(row))) {
      clearInterval(timer);
      if (row.dataset.status === "succeeded") location.reload();
    }
  }, 1000);
}
