// Exhaustive search over catalog configurations. Each plan costs microseconds, so the whole catalog
// (about 2,000 configurations) is evaluated directly; tensor and pipeline parallelism stay at the user's
// values (the search varies data parallelism, ZeRO stage, optimizer offload and recompute).
#include "recommend.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>

namespace loom::plan {

double costKey(const PlanResult& r) {
  if (r.steps > 0) return r.costUsd;
  return r.pricePerGpuHour * r.input.cluster.totalGpus() / 3600 / r.tokensPerSecond * 1e6;
}

std::string optionLabel(const PlanInput& in) {
  std::string s = fmt::format("{}x {}", in.cluster.totalGpus(), in.cluster.gpu.name);
  if (in.cluster.nodes > 1) s += fmt::format(" ({} nodes)", in.cluster.nodes);
  s += ", " + (in.sharding == Sharding::kNone ? std::string(in.dp() > 1 ? "ddp" : "single") : toString(in.sharding));
  if (in.offload != Offload::kNone) s += "+offload";
  if (in.tp > 1) s += fmt::format(", tp{}", in.tp);
  if (in.pp > 1) s += fmt::format(", pp{}", in.pp);
  s += ", recompute " + toString(in.recompute);
  return s;
}

Result<Recommendation> recommend(const PlanInput& base, const GpuCatalog& catalog, const RecommendOptions& opts) {
  const auto start = std::chrono::steady_clock::now();
  if (opts.maxGpus < 1) return invalidArgument(fmt::format("--max-gpus must be positive (got {})", opts.maxGpus));
  std::vector<GpuSpec> gpus;
  if (opts.gpus.empty()) {
    gpus = catalog.gpus();
  } else {
    for (const auto& name : opts.gpus) {
      auto g = catalog.findGpu(name);
      if (!g) return g.status();
      gpus.push_back(*g);
    }
  }
  Recommendation rec;
  rec.base = base;
  const Sharding shardings[] = {Sharding::kNone, Sharding::kZero1, Sharding::kZero2, Sharding::kZero3};
  const Recompute recomputes[] = {Recompute::kNone, Recompute::kSelective, Recompute::kFull};
  for (const GpuSpec& g : gpus) {
    GpuVerdict verdict{g.name, 0, ""};
    double smallestNeed = std::numeric_limits<double>::infinity();
    std::string smallestLabel, otherReason;
    std::vector<std::pair<int, int>> layouts;  // (gpus per node, nodes)
    for (int n = 1; n <= std::min(g.maxGpusPerNode, opts.maxGpus); n *= 2) layouts.push_back({n, 1});
    for (int nodes = 2; nodes * g.maxGpusPerNode <= opts.maxGpus; nodes *= 2) layouts.push_back({g.maxGpusPerNode, nodes});
    PlanInput in = base;
    in.cluster.gpu = g;
    if (!opts.keepNetwork) {
      auto net = catalog.findNetwork(g.defaultNetwork);
      if (net) in.cluster.network = *net, in.cluster.nicsPerNode = g.defaultNicsPerNode;
    }
    for (auto [gpn, nodes] : layouts) {
      in.cluster.gpusPerNode = gpn;
      in.cluster.nodes = nodes;
      if (in.cluster.totalGpus() % (in.tp * in.pp) != 0) continue;
      const int dp = in.dp();
      for (Sharding s : shardings) {
        for (Offload o : {Offload::kNone, Offload::kOptimizer}) {
          if (o == Offload::kOptimizer && s < Sharding::kZero2) continue;
          if (s != Sharding::kNone && dp < 2 && o == Offload::kNone) continue;  // ZeRO needs peers
          if (s == Sharding::kZero3 && (in.tp > 1 || in.pp > 1)) continue;
          for (Recompute r : recomputes) {
            if (r == Recompute::kSelective && base.flashAttention) continue;  // same as none with flash
            in.sharding = s, in.offload = o, in.recompute = r;
            ++rec.evaluated;
            Rejection rej{g.name, in.cluster.totalGpus(), s, o, r, 0, ""};
            auto plan = makePlan(in, PlanOptions{false});
            if (!plan) {
              rej.reason = plan.status().message();
              otherReason = rej.reason;
              rec.rejected.push_back(std::move(rej));
              continue;
            }
            if (!plan->memory.fits) {
              rej.neededGiB = plan->memory.total / kGiB;
              rej.reason = fmt::format("needs {:.1f} GiB per GPU > {:.0f} GiB", rej.neededGiB, g.memoryGiB);
              if (rej.neededGiB < smallestNeed) smallestNeed = rej.neededGiB, smallestLabel = optionLabel(in);
              rec.rejected.push_back(std::move(rej));
              continue;
            }
            ++verdict.fitting;
            rec.fitting.push_back(std::move(*plan));
          }
        }
      }
    }
    if (verdict.fitting == 0) {
      if (std::isfinite(smallestNeed))
        verdict.summary = fmt::format("nothing fits up to {} GPUs: the smallest need is {:.1f} GiB per GPU ({}) "
                                      "against {:.0f} GiB",
                                      std::min(opts.maxGpus, layouts.back().first * layouts.back().second),
                                      smallestNeed, smallestLabel, g.memoryGiB);
      else
        verdict.summary = otherReason.empty() ? "no valid configuration" : otherReason;
    }
    rec.verdicts.push_back(std::move(verdict));
  }
  for (size_t i = 0; i < rec.fitting.size(); ++i) rec.byCost.push_back(i), rec.byTime.push_back(i);
  auto timeKey = [&](size_t i) {
    const auto& r = rec.fitting[i];
    return r.steps > 0 ? r.totalSeconds : 1 / r.tokensPerSecond;
  };
  std::stable_sort(rec.byCost.begin(), rec.byCost.end(), [&](size_t a, size_t b) {
    double ka = costKey(rec.fitting[a]), kb = costKey(rec.fitting[b]);
    return ka != kb ? ka < kb : timeKey(a) < timeKey(b);
  });
  std::stable_sort(rec.byTime.begin(), rec.byTime.end(), [&](size_t a, size_t b) {
    double ka = timeKey(a), kb = timeKey(b);
    return ka != kb ? ka < kb : costKey(rec.fitting[a]) < costKey(rec.fitting[b]);
  });
  for (auto& v : rec.verdicts) {
    if (v.fitting == 0) continue;
    for (size_t i : rec.byCost)
      if (rec.fitting[i].input.cluster.gpu.name == v.gpu) {
        v.summary = fmt::format("{} configurations fit; cheapest: {}", v.fitting, optionLabel(rec.fitting[i].input));
        break;
      }
  }
  rec.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return rec;
}

}  // namespace loom::plan
