// What an answer's details say about how it was served, in one voice. A worker that failed
// before the first token (the next one was tried) and one that died mid-answer (another
// continued the answer from its text) are both a failover of the answer: one row says which
// happened, rather than "Failover: no" beside "Continued on another worker: yes".

function plural(n, one, many) {
  return n === 1 ? one : many;
}

export function failoverText(metrics) {
  const before = Number(metrics.failovers || 0);
  const during = Number(metrics.continued || 0); // true on answers saved before it counted
  if (!before && !during) return "no";
  const parts = [];
  if (before) {
    parts.push(
      `${before} ${plural(before, "worker", "workers")} failed before the first token`,
    );
  }
  if (during) {
    const times = during > 1 ? ` (${during} times)` : "";
    parts.push(`the worker stopped mid-answer and another continued it${times}`);
  }
  return `yes: ${parts.join("; ")}`;
}
