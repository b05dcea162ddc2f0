// Readable table and Markdown output. Both are built from the same rows; Markdown adds pipes.
#include <fmt/format.h>

#include <algorithm>

#include "report.hpp"

namespace loom::plan {

namespace {

using Row = std::vector<std::string>;

std::string renderTable(const std::vector<Row>& rows, bool markdown, bool header) {
  if (rows.empty()) return "";
  size_t cols = 0;
  for (const auto& r : rows) cols = std::max(cols, r.size());
  std::vector<size_t> width(cols, 0);
  for (const auto& r : rows)
    for (size_t c = 0; c < r.size(); ++c) width[c] = std::max(width[c], r[c].size());
  std::string out;
  for (size_t i = 0; i < rows.size(); ++i) {
    const Row& r = rows[i];
    std::string line = markdown ? "|" : " ";
    for (size_t c = 0; c < cols; ++c) {
      std::string cell = c < r.size() ? r[c] : "";
      line += markdown ? " " + cell + " |" : " " + cell + std::string(width[c] - cell.size() + 1, ' ');
    }
    while (!markdown && !line.empty() && line.back() == ' ') line.pop_back();
    out += line + "\n";
    if (markdown && i == 0) {
      std::string sep = "|";
      for (size_t c = 0; c < cols; ++c) sep += " --- |";
      out += sep + "\n";
    }
    if (!markdown && header && i == 0) {
      size_t total = 1;
      for (size_t w : width) total += w + 2;
      out += " " + std::string(total - 1, '-') + "\n";
    }
  }
  return out;
}

std::string gibStr(double b) { return fmt::format("{:.2f} GiB", b / kGiB); }

std::string headline(const PlanInput& in) {
  std::string method = toString(in.method);
  if (in.method != Method::kFull)
    method += fmt::format(" (rank {}, alpha {:g}, {})", in.lora.rank, in.lora.alpha, loraTargetsToString(in.lora.targets));
  return fmt::format("{} | {} | precision {} | {} | {}x {} ({} per node), {}", in.model.name, method,
                     toString(in.precision), toString(in.optimizer), in.cluster.totalGpus(), in.cluster.gpu.name,
                     in.cluster.gpusPerNode, in.cluster.nodes > 1 ? in.cluster.network.name : "single node");
}

std::string layout(const PlanInput& in) {
  return fmt::format("micro-batch {} x {} tokens, grad-accum {}, dp {} tp {} pp {}, sharding {}, offload {}, "
                     "recompute {}, flash-attention {}",
                     in.microBatch, in.seqLen, in.gradAccum, in.dp(), in.tp, in.pp, toString(in.sharding),
                     toString(in.offload), toString(in.recompute), in.flashAttention ? "on" : "off");
}

std::string searchLine(const PlanInput& in) {
  std::string method = toString(in.method);
  if (in.method != Method::kFull) method += fmt::format(" (rank {}, {})", in.lora.rank, loraTargetsToString(in.lora.targets));
  return fmt::format("{} | precision {} | {} | micro-batch {} x {} tokens, grad-accum {}, tp {} pp {} | work: {}",
                     method, toString(in.precision), toString(in.optimizer), in.microBatch, in.seqLen, in.gradAccum,
                     in.tp, in.pp,
                     in.work.steps > 0 ? fmt::format("{} steps", in.work.steps)
                     : in.work.tokens > 0 ? fmt::format("{} tokens x {:g} epochs", formatCount(in.work.tokens), in.work.epochs)
                                          : std::string("none given (cost per million tokens)"));
}

std::vector<Row> memoryRows(const PlanResult& r) {
  std::vector<Row> rows{{"memory per GPU", "GiB", "how"}};
  for (const auto& i : r.memory.items) rows.push_back({i.label, fmt::format("{:.2f}", i.bytes / kGiB), i.detail});
  rows.push_back({"total", fmt::format("{:.2f}", r.memory.total / kGiB),
                  fmt::format("of {:.0f} GiB: {} ({:.0f}% used)", r.memory.capacity / kGiB,
                              r.memory.fits ? "FITS" : "DOES NOT FIT", 100 * r.memory.total / r.memory.capacity)});
  return rows;
}

std::vector<Row> timeRows(const PlanResult& r) {
  const StepTime& t = r.time;
  const PlanInput& in = r.input;
  std::vector<Row> rows{{"step time", "seconds", "how"}};
  rows.push_back({"compute", fmt::format("{:.3f}", t.compute),
                  fmt::format("{:.3g} GFLOP/token executed at {:.0f} TFLOPS x MFU {:.2f}", r.flops.executedPerToken / 1e9,
                              t.peakTflops, t.mfu)});
  if (t.bubble > 0) rows.push_back({"pipeline bubble", fmt::format("{:.3f}", t.bubble), "(pp-1)/grad-accum of compute"});
  if (t.dpComm > 0)
    rows.push_back({"data-parallel communication", fmt::format("{:.3f}", t.dpExposed),
                    fmt::format("{:.3f} s total, {:.0f}% overlap with backward assumed", t.dpComm, in.knobs.overlap * 100)});
  if (t.tpComm > 0) rows.push_back({"tensor-parallel all-reduces", fmt::format("{:.3f}", t.tpComm), "on the critical path"});
  if (t.ppComm > 0) rows.push_back({"pipeline sends", fmt::format("{:.3f}", t.ppComm), "activations and their gradients"});
  if (t.offload > 0) rows.push_back({"host offload", fmt::format("{:.3f}", t.offload), "PCIe transfers + CPU optimizer"});
  if (t.pagedSpill > 0) rows.push_back({"paged optimizer", fmt::format("{:.3f}", t.pagedSpill), "states paged over PCIe"});
  rows.push_back({"step", fmt::format("{:.3f}", t.step), fmt::format("network share {:.1f}% ({})", 100 * t.networkShare, t.commModel)});
  return rows;
}

std::vector<Row> workRows(const PlanResult& r) {
  const PlanInput& in = r.input;
  std::vector<Row> rows{{"throughput and cost", "value"}};
  rows.push_back({"tokens per step", formatCount(r.tokensPerStep)});
  rows.push_back({"tokens per second", fmt::format("{:.0f}", r.tokensPerSecond)});
  rows.push_back({"steps", r.steps > 0 ? fmt::format("{:.0f}", r.steps) : "-"});
  rows.push_back({"time to finish", formatDuration(r.totalSeconds)});
  rows.push_back({"GPU-hours", r.gpuHours > 0 ? fmt::format("{:.1f}", r.gpuHours) : "-"});
  rows.push_back({"cost", fmt::format("{} at ${:.2f}/GPU-hour ({}, {})", formatMoney(r.costUsd), r.pricePerGpuHour,
                                      in.knobs.pricePerGpuHour >= 0 ? "--price" : in.cluster.gpu.priceSource,
                                      in.knobs.pricePerGpuHour >= 0 ? "user" : in.cluster.gpu.priceDate)});
  rows.push_back({"energy at TDP", r.energyKWh > 0 ? fmt::format("{:.1f} kWh", r.energyKWh) : "-"});
  return rows;
}

std::string planBody(const PlanResult& r, bool md) {
  const auto& p = r.params;
  std::string out;
  std::string pub = r.input.model.publishedParams > 0 ? " (published " + formatCount(r.input.model.publishedParams) + ")" : "";
  std::string active = p.active < p.total ? ", " + formatCount(p.active) + " active per token" : "";
  out += fmt::format("{}Model: {} parameters{}{}; trainable {} ({:.2f}%)\n", md ? "\n" : "", formatCount(p.total), pub,
                     active, formatCount(r.trainableParams), 100 * r.trainableParams / p.total);
  out += fmt::format("{}Peak: {}\n\n", md ? "\n" : "", r.memory.peakPhase);
  out += renderTable(memoryRows(r), md, true);
  if (r.maxMicroBatch > 0 || r.maxSeqLen > 0 || !r.memory.fits)
    out += fmt::format("{}Largest micro-batch at {} tokens: {}; longest sequence at micro-batch {}: {}\n", md ? "\n" : "",
                       r.input.seqLen, r.maxMicroBatch, r.input.microBatch, r.maxSeqLen);
  if (r.memory.hostBytesPerNode > 0)
    out += fmt::format("{}Host memory per node for offloaded state: {}\n", md ? "\n" : "", gibStr(r.memory.hostBytesPerNode));
  out += "\n" + renderTable(timeRows(r), md, true) + "\n" + renderTable(workRows(r), md, true);
  if (!r.notes.empty()) {
    out += md ? "\n**Notes**\n\n" : "\nNotes:\n";
    for (const auto& n : r.notes) out += "- " + n + "\n";
  }
  return out;
}

std::vector<Row> rankRows(const Recommendation& rec, const std::vector<size_t>& order, int top) {
  std::vector<Row> rows{{"#", "configuration", "GiB/GPU", "step", "tokens/s", "network", "time", "GPU-h", "cost"}};
  for (size_t k = 0; k < order.size() && (top <= 0 || int(k) < top); ++k) {
    const PlanResult& r = rec.fitting[order[k]];
    rows.push_back({std::to_string(k + 1), optionLabel(r.input),
                    fmt::format("{:.1f}/{:.0f}", r.memory.total / kGiB, r.memory.capacity / kGiB),
                    formatDuration(r.time.step), fmt::format("{:.0f}", r.tokensPerSecond),
                    fmt::format("{:.0f}%", 100 * r.time.networkShare), formatDuration(r.totalSeconds),
                    r.gpuHours > 0 ? fmt::format("{:.1f}", r.gpuHours) : "-",
                    r.steps > 0 ? formatMoney(r.costUsd) : fmt::format("${:.3f}/Mtok", costKey(r))});
  }
  return rows;
}

std::string recommendBody(const Recommendation& rec, int top, bool md) {
  std::string out;
  out += fmt::format("{}Evaluated {} configurations in {:.0f} ms: {} fit.\n", md ? "\n" : "", rec.evaluated,
                     rec.seconds * 1e3, rec.fitting.size());
  const std::string h = md ? "\n### " : "\n";
  out += h + "Cheapest first\n\n" + renderTable(rankRows(rec, rec.byCost, top), md, true);
  out += h + "Fastest first\n\n" + renderTable(rankRows(rec, rec.byTime, top), md, true);
  out += h + "Per GPU type\n\n";
  std::vector<Row> rows{{"GPU", "fitting", "verdict"}};
  for (const auto& v : rec.verdicts) rows.push_back({v.gpu, std::to_string(v.fitting), v.summary});
  out += renderTable(rows, md, true);
  out += fmt::format("{}{} rejected configurations (each with its reason) are listed by --json.\n", md ? "\n" : "\n",
                     rec.rejected.size());
  return out;
}

}  // namespace

std::string toText(const PlanResult& r) {
  return "loom plan: " + headline(r.input) + "\n  " + layout(r.input) + "\n" + planBody(r, false);
}

std::string toMarkdown(const PlanResult& r) {
  return "## loom plan: " + headline(r.input) + "\n\n" + layout(r.input) + "\n" + planBody(r, true);
}

std::string toText(const Recommendation& rec, int top) {
  return "loom plan recommend: " + rec.base.model.name + "\n  " + searchLine(rec.base) + "\n" +
         recommendBody(rec, top, false);
}

std::string toMarkdown(const Recommendation& rec, int top) {
  return "## loom plan recommend: " + rec.base.model.name + "\n\n" + searchLine(rec.base) + "\n" +
         recommendBody(rec, top, true);
}

}  // namespace loom::plan
