// Completeness of a save's table files, from their names alone.
//
// A sharded save writes "<stem>_<i>of<n>[_rank<r>of<p>].tfrakv" for shard i
// (1-based) of n, in every process r of p. Before any row of such files is
// applied, CheckShardSets groups the paths by directory and stem and
// requires, per group: one shard count n and one process count p (files of
// two saves with another device or process count are refused, not merged),
// every shard 1..n of each rank present, and with `all_ranks` every rank
// 0..p-1. Paths whose names carry no "_<i>of<n>" are left alone.
#ifndef TFRA_CC_KERNELS_SHARD_SETS_H_
#define TFRA_CC_KERNELS_SHARD_SETS_H_

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "cc/kernels/tf_file_io.h"
#include "tensorflow/core/platform/errors.h"

namespace tensorflow {
namespace tfra_ops {

struct ShardName {
  std::string dir, stem;
  int64_t shard = 0, shards = 0, rank = 0, ranks = 1;
};

namespace shard_sets {

// Parses "<digits>of<digits>" ending at `end` (exclusive) of `s`, preceded
// by `lead` ("_" or "_rank"); on success sets `begin` to where `lead`
// starts.
inline bool ParseOf(const std::string& s, size_t end, const std::string& lead,
                    int64_t* a, int64_t* b, size_t* begin) {
  size_t p = end;
  auto digits = [&](int64_t* v) {
    size_t q = p;
    while (q > 0 && s[q - 1] >= '0' && s[q - 1] <= '9') --q;
    if (q == p || p - q > 12) return false;
    *v = std::stoll(s.substr(q, p - q));
    p = q;
    return true;
  };
  if (!digits(b)) return false;
  if (p < 2 || s.compare(p - 2, 2, "of") != 0) return false;
  p -= 2;
  if (!digits(a)) return false;
  if (p < lead.size() || s.compare(p - lead.size(), lead.size(), lead) != 0) {
    return false;
  }
  *begin = p - lead.size();
  return true;
}

}  // namespace shard_sets

// Splits `path` into its shard name; false if it carries none.
inline bool ParseShardName(const std::string& path, ShardName* out) {
  const size_t slash = path.rfind('/');
  out->dir = slash == std::string::npos ? "" : path.substr(0, slash);
  std::string base = slash == std::string::npos ? path : path.substr(slash + 1);
  const std::string suffix(kTableFileSuffix);
  if (base.size() <= suffix.size() ||
      base.compare(base.size() - suffix.size(), suffix.size(), suffix) != 0) {
    return false;
  }
  base.resize(base.size() - suffix.size());
  size_t begin = 0;
  if (shard_sets::ParseOf(base, base.size(), "_rank", &out->rank, &out->ranks,
                          &begin)) {
    base.resize(begin);
  } else {
    out->rank = 0;
    out->ranks = 1;
  }
  if (!shard_sets::ParseOf(base, base.size(), "_", &out->shard, &out->shards,
                           &begin)) {
    return false;
  }
  out->stem = base.substr(0, begin);
  return true;
}

inline std::string ShardPath(const ShardName& n, int64_t shard, int64_t rank) {
  std::string s = n.dir + "/" + n.stem + "_" + std::to_string(shard) + "of" +
                  std::to_string(n.shards);
  if (n.ranks > 1) {
    s += "_rank" + std::to_string(rank) + "of" + std::to_string(n.ranks);
  }
  return s + kTableFileSuffix;
}

inline absl::Status CheckShardSets(const std::vector<std::string>& paths,
                                   bool all_ranks) {
  std::map<std::pair<std::string, std::string>, std::vector<ShardName>> groups;
  for (const std::string& p : paths) {
    ShardName n;
    if (ParseShardName(p, &n)) groups[{n.dir, n.stem}].push_back(n);
  }
  for (const auto& g : groups) {
    const std::vector<ShardName>& files = g.second;
    const ShardName& first = files.front();
    std::set<std::pair<int64_t, int64_t>> have;  // (rank, shard)
    std::set<int64_t> ranks;
    for (const ShardName& n : files) {
      if (n.shards != first.shards || n.ranks != first.ranks) {
        return errors::DataLoss(
            "table files of two saves are mixed in '", first.dir, "': '",
            ShardPath(first, first.shard, first.rank), "' belongs to a save of ",
            first.shards, " shard(s) x ", first.ranks, " process(es) but '",
            ShardPath(n, n.shard, n.rank), "' to one of ", n.shards,
            " x ", n.ranks, "; remove the stale files (an older save with "
            "another device or process count) or save into a new directory");
      }
      if (n.shard < 1 || n.shard > n.shards || n.rank >= n.ranks) {
        return errors::DataLoss("table file '", ShardPath(n, n.shard, n.rank),
                                "' has a shard or rank outside its count");
      }
      have.insert({n.rank, n.shard});
      ranks.insert(n.rank);
    }
    if (all_ranks) {
      for (int64_t r = 0; r < first.ranks; ++r) ranks.insert(r);
    }
    for (int64_t r : ranks) {
      for (int64_t i = 1; i <= first.shards; ++i) {
        if (have.count({r, i}) == 0) {
          return errors::NotFound(
              "table file '", ShardPath(first, i, r), "' is missing: the save "
              "of ", first.shards, " shard(s) x ", first.ranks,
              " process(es) is incomplete (nothing was loaded)");
        }
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace tfra_ops
}  // namespace tensorflow

#endif  // TFRA_CC_KERNELS_SHARD_SETS_H_
