// The conversation's tree on the client: every message's id, parent, role and status (the
// page sends them all; a few tens of KB for 2,000 messages), and the text of those loaded
// so far. Which branch is shown is computed here, as chat/selectors/messages.py does on the
// server: by default the path to the most recent leaf; a switched sibling shows its latest
// leaf.

export class Thread {
  constructor(nodes) {
    this.records = new Map(); // id -> {id, parent, role, status, order, content?, ...}
    this.children = new Map(); // parent id (null for roots) -> [ids], in creation order
    this.order = 0;
    for (const [id, parent, role, status] of nodes) this.add({ id, parent, role, status });
  }

  add(message) {
    const known = this.records.get(message.id);
    if (known) {
      Object.assign(known, message);
      return known;
    }
    const record = { ...message, parent: message.parent ?? null, order: this.order++ };
    this.records.set(record.id, record);
    if (!this.children.has(record.parent)) this.children.set(record.parent, []);
    this.children.get(record.parent).push(record.id);
    return record;
  }

  get(id) {
    return this.records.get(id);
  }

  loaded(id) {
    return typeof this.records.get(id)?.content === "string";
  }

  siblings(id) {
    const record = this.records.get(id);
    return record ? this.children.get(record.parent) || [id] : [];
  }

  // A message is created after its parent, so the latest message of a subtree is a leaf.
  latestLeaf(id = null) {
    if (id === null) {
      let latest = null;
      for (const record of this.records.values()) {
        if (!latest || record.order > latest.order) latest = record;
      }
      return latest ? latest.id : null;
    }
    let latest = this.records.get(id);
    const stack = [id];
    while (stack.length) {
      const node = stack.pop();
      const record = this.records.get(node);
      if (record && record.order > latest.order) latest = record;
      stack.push(...(this.children.get(node) || []));
    }
    return latest.id;
  }

  path(leaf) {
    const ids = [];
    let node = leaf;
    while (node !== null && node !== undefined && this.records.has(node)) {
      ids.push(node);
      node = this.records.get(node).parent;
      if (ids.length > this.records.size) break; // never loops, whatever the data
    }
    return ids.reverse();
  }
}
