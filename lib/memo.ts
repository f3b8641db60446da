// Pure functions of a string, remembered per warm function: the same few values (group DNs,
// attribute names, stored key lines, `info` documents) come up request after request. Bounded: a
// flood of distinct values empties the memory rather than growing it without limit.

/** `compute`, remembering up to `limit` results (then starting afresh). `compute` must be pure. */
export const remembered = <V>(compute: (key: string) => V, limit: number): ((key: string) => V) => {
  const values = new Map<string, V>();
  return (key) => {
    let value = values.get(key);
    if (value === undefined) {
      value = compute(key);
      if (values.size >= limit) values.clear();
      values.set(key, value);
    }
    return value;
  };
};
