"""A plain-Python model of a bounded table with one shard, written from the
documented rules (cc/core/row_meta.h, CuckooHashTableConfig), for tests to
compare `de.Variable`s against.

Per write call the clock advances by one; each occurrence of a key in the
call, in order, writes its row (a new key counts one admission sighting and
needs `admit_after` of them; an existing key gets version = clock, freq + 1,
score); after the call a table above `capacity` evicts its lowest-ranked
rows down to `capacity - capacity // 4`, ranked by (primary score, version,
key) with primary = version (lru, ttl), freq (lfu) or score (custom). Rows
not written for more than `ttl` steps read as absent and are replaced, not
updated, by a write; sweeps every max(1, ttl // 4) steps remove them.
"""


class BoundedReference:
  """The expected content of a one-shard bounded table."""

  def __init__(self, capacity=0, policy="lru", ttl=0, admit_after=0):
    self.capacity = capacity
    self.policy = policy
    self.ttl = ttl
    self.admit_after = admit_after
    self.rows = {}       # key -> [value, version, freq, score]
    self.sightings = {}  # new key -> writes seen (exact counts)
    self.clock = 0
    self.next_sweep = max(1, ttl // 4) if ttl else 0

  def expired(self, key):
    return self.ttl > 0 and self.clock > self.rows[key][1] + self.ttl

  def upsert(self, keys, values, scores=None):
    """Applies one write call; returns the keys dropped, in order."""
    self.clock += 1
    dropped = []
    for i, key in enumerate(keys):
      score = 0 if scores is None else scores[i]
      row = self.rows.get(key)
      if row is not None and not self.expired(key):
        row[0] = values[i]
        row[1] = self.clock
        row[2] += 1
        if scores is not None:
          row[3] = score
        continue
      if row is not None:  # expired: starts over
        self.rows[key] = [values[i], self.clock, 1, score]
        continue
      if self.admit_after > 1:
        self.sightings[key] = self.sightings.get(key, 0) + 1
        if self.sightings[key] < self.admit_after:
          dropped.append(key)
          continue
      self.rows[key] = [values[i], self.clock, 1, score]
    dropped += self._evict()
    if self.ttl and self.clock >= self.next_sweep:
      self.next_sweep = self.clock + max(1, self.ttl // 4)
      swept = [k for k in self.rows if self.expired(k)]
      for key in swept:
        del self.rows[key]
      dropped += swept
    return dropped

  def _rank(self, key):
    value, version, freq, score = self.rows[key]
    del value
    primary = {"lfu": freq, "custom": score}.get(self.policy, version)
    return (primary, version, key)

  def _evict(self):
    if not self.capacity or len(self.rows) <= self.capacity:
      return []
    keep = self.capacity - self.capacity // 4
    victims = sorted(self.rows, key=self._rank)[:len(self.rows) - keep]
    for key in victims:
      del self.rows[key]
    return victims

  def live(self):
    """{key: value} of the rows a lookup finds now."""
    return {k: r[0] for k, r in self.rows.items() if not self.expired(k)}
