// JSON output: every number the other formats show, with units in the key names.
#include <fmt/format.h>

#include <cmath>

#include "report.hpp"

namespace loom::plan {

using nlohmann::json;

std::string formatDuration(double s) {
  if (!(s > 0)) return "-";
  if (s < 1) return fmt::format("{:.0f} ms", s * 1e3);
  if (s < 120) return fmt::format("{:.1f} s", s);
  if (s < 7200) return fmt::format("{:.1f} min", s / 60);
  if (s < 3 * 86400) return fmt::format("{:.1f} h", s / 3600);
  return fmt::format("{:.1f} days", s / 86400);
}

std::string formatCount(double n) {
  if (n >= 1e12) return fmt::format("{:.2f}T", n / 1e12);
  if (n >= 1e9) return fmt::format("{:.2f}B", n / 1e9);
  if (n >= 1e6) return fmt::format("{:.1f}M", n / 1e6);
  if (n >= 1e3) return fmt::format("{:.1f}K", n / 1e3);
  return fmt::format("{:.0f}", n);
}

std::string formatMoney(double usd) {
  if (!(usd > 0)) return "-";
  if (usd < 100) return fmt::format("${:.2f}", usd);
  return fmt::format("${:.0f}", usd);
}

static json configJson(const PlanInput& in) {
  json c = {{"method", toString(in.method)},
            {"precision", toString(in.precision)},
            {"optimizer", toString(in.optimizer)},
            {"sharding", toString(in.sharding)},
            {"offload", toString(in.offload)},
            {"recompute", toString(in.recompute)},
            {"flash_attention", in.flashAttention},
            {"micro_batch", in.microBatch},
            {"seq_len", in.seqLen},
            {"grad_accum", in.gradAccum},
            {"tp", in.tp},
            {"pp", in.pp},
            {"dp", in.dp()},
            {"gpu", in.cluster.gpu.name},
            {"gpus", in.cluster.totalGpus()},
            {"gpus_per_node", in.cluster.gpusPerNode},
            {"nodes", in.cluster.nodes},
            {"network", in.cluster.network.name},
            {"nics_per_node", in.cluster.nicsPerNode}};
  if (in.method != Method::kFull)
    c["lora"] = {{"rank", in.lora.rank}, {"alpha", in.lora.alpha}, {"targets", loraTargetsToString(in.lora.targets)}};
  return c;
}

json toJson(const PlanResult& r) {
  const PlanInput& in = r.input;
  const ModelSpec& m = in.model;
  json j;
  j["model"] = {{"name", m.name},
                {"source", m.source},
                {"layers", m.layers},
                {"hidden", m.hidden},
                {"intermediate", m.intermediate},
                {"heads", m.heads},
                {"kv_heads", m.kvHeads},
                {"head_dim", m.headDimension()},
                {"vocab", m.vocab},
                {"tied_embeddings", m.tiedEmbeddings},
                {"experts", m.experts},
                {"experts_per_token", m.expertsPerToken},
                {"params_total", r.params.total},
                {"params_active", r.params.active},
                {"params_trainable", r.trainableParams},
                {"published_params", m.publishedParams}};
  j["config"] = configJson(in);
  json items = json::array();
  double allocated = 0;
  for (const auto& i : r.memory.items) {
    items.push_back({{"key", i.key}, {"label", i.label}, {"bytes", i.bytes}, {"gib", i.bytes / kGiB}, {"detail", i.detail}});
    if (i.key != "context" && i.key != "fragmentation") allocated += i.bytes;
  }
  j["memory"] = {{"per_gpu_bytes", r.memory.total},
                 {"per_gpu_gib", r.memory.total / kGiB},
                 {"allocated_bytes", allocated},
                 {"allocated_gib", allocated / kGiB},
                 {"capacity_gib", r.memory.capacity / kGiB},
                 {"fits", r.memory.fits},
                 {"peak_phase", r.memory.peakPhase},
                 {"items", items},
                 {"paged_optimizer_bytes", r.memory.pagedBytes},
                 {"paged_spill_bytes", r.memory.pagedSpillBytes},
                 {"host_bytes_per_node", r.memory.hostBytesPerNode},
                 {"max_micro_batch", r.maxMicroBatch},
                 {"max_seq_len", r.maxSeqLen},
                 {"total_all_gpus_gib", r.memory.total * in.cluster.totalGpus() / kGiB}};
  const StepTime& t = r.time;
  j["time"] = {{"forward_flops_per_token", r.flops.forwardPerToken},
               {"model_flops_per_token", r.flops.modelPerToken},
               {"executed_flops_per_token", r.flops.executedPerToken},
               {"peak_tflops_per_gpu", t.peakTflops},
               {"mfu", t.mfu},
               {"compute_s", t.compute},
               {"pipeline_bubble_s", t.bubble},
               {"dp_comm_s", t.dpComm},
               {"dp_comm_exposed_s", t.dpExposed},
               {"tp_comm_s", t.tpComm},
               {"pp_comm_s", t.ppComm},
               {"offload_s", t.offload},
               {"paged_spill_s", t.pagedSpill},
               {"step_s", t.step},
               {"network_share", t.networkShare},
               {"comm_model", t.commModel},
               {"overlap", in.knobs.overlap}};
  j["throughput"] = {{"tokens_per_step", r.tokensPerStep},
                     {"tokens_per_second", r.tokensPerSecond},
                     {"steps", r.steps},
                     {"total_seconds", r.totalSeconds},
                     {"gpu_hours", r.gpuHours},
                     {"price_per_gpu_hour_usd", r.pricePerGpuHour},
                     {"price_source", in.knobs.pricePerGpuHour >= 0 ? "--price" : in.cluster.gpu.priceSource},
                     {"price_date", in.knobs.pricePerGpuHour >= 0 ? "" : in.cluster.gpu.priceDate},
                     {"cost_usd", r.costUsd},
                     {"energy_kwh_at_tdp", r.energyKWh}};
  j["assumptions"] = {{"context_gib", in.knobs.contextGiB},
                      {"fragmentation", in.knobs.fragmentation},
                      {"loss_chunks", in.knobs.lossChunks},
                      {"dropout", in.knobs.dropout},
                      {"cpu_adam_params_per_s", in.knobs.cpuAdamParamsPerSec}};
  j["notes"] = r.notes;
  return j;
}

json toJson(const Recommendation& rec, int top) {
  json j;
  j["model"] = rec.base.model.name;
  j["base_config"] = configJson(rec.base);
  j["evaluated"] = rec.evaluated;
  j["search_seconds"] = rec.seconds;
  auto summary = [&](size_t i) {
    const PlanResult& r = rec.fitting[i];
    return json{{"label", optionLabel(r.input)},
                {"gpu", r.input.cluster.gpu.name},
                {"gpus", r.input.cluster.totalGpus()},
                {"nodes", r.input.cluster.nodes},
                {"sharding", toString(r.input.sharding)},
                {"offload", toString(r.input.offload)},
                {"recompute", toString(r.input.recompute)},
                {"memory_per_gpu_gib", r.memory.total / kGiB},
                {"capacity_gib", r.memory.capacity / kGiB},
                {"step_s", r.time.step},
                {"tokens_per_second", r.tokensPerSecond},
                {"network_share", r.time.networkShare},
                {"total_seconds", r.totalSeconds},
                {"gpu_hours", r.gpuHours},
                {"cost_usd", r.costUsd},
                {"cost_key", costKey(r)}};
  };
  json byCost = json::array(), byTime = json::array();
  for (size_t k = 0; k < rec.byCost.size() && (top <= 0 || int(k) < top); ++k) byCost.push_back(summary(rec.byCost[k]));
  for (size_t k = 0; k < rec.byTime.size() && (top <= 0 || int(k) < top); ++k) byTime.push_back(summary(rec.byTime[k]));
  j["by_cost"] = byCost;
  j["by_time"] = byTime;
  j["fitting_count"] = rec.fitting.size();
  json rej = json::array();
  for (const auto& r : rec.rejected)
    rej.push_back({{"gpu", r.gpu},
                   {"gpus", r.gpus},
                   {"sharding", toString(r.sharding)},
                   {"offload", toString(r.offload)},
                   {"recompute", toString(r.recompute)},
                   {"needed_gib", r.neededGiB},
                   {"reason", r.reason}});
  j["rejected"] = rej;
  json verdicts = json::array();
  for (const auto& v : rec.verdicts) verdicts.push_back({{"gpu", v.gpu}, {"fitting", v.fitting}, {"summary", v.summary}});
  j["gpus"] = verdicts;
  return j;
}

}  // namespace loom::plan
