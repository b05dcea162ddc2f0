// The `loom plan` command line (CLI11). Options are shared by `plan` and `plan recommend`; the
// subcommand falls through to them.
#include "plan_cli.hpp"

#include <fmt/format.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <type_traits>

#include "int_fields.hpp"
#include "report.hpp"

#ifndef LOOM_DATA_DIR
#define LOOM_DATA_DIR "data"
#endif

namespace loom::plan {

namespace fs = std::filesystem;

std::string findDataDir(const std::string& override) {
  if (!override.empty()) return override;
  std::error_code ec;
  fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    fs::path share = exe.parent_path().parent_path() / "share" / "loom";
    if (fs::exists(share / "models.json", ec) && fs::exists(share / "gpus.json", ec)) return share.string();
  }
  return LOOM_DATA_DIR;
}

namespace {

struct Options {
  std::string model, params;
  int layers = 0, hidden = 0, heads = 0, kvHeads = 0;
  int64_t vocab = 0;
  std::string method = "full", precision = "mixed", optimizer = "adamw", sharding = "none", offload = "none",
              recompute = "none", flash = "on", loraTargets = "q,k,v,o";
  int loraRank = 16;
  double loraAlpha = 32;
  int microBatch = 1, seqLen = 2048, gradAccum = 1, tp = 1, pp = 1;
  std::string gpu = "h100-sxm", network, topology;
  int gpusPerNode = 1, nodes = 1, nicsPerNode = 0;
  std::string tokens;
  double epochs = 1;
  int64_t steps = 0;
  Assumptions knobs;
  bool json = false, markdown = false, listModels = false, listGpus = false;
  std::string html, output, dataDir;
  std::string gpus;
  int maxGpus = 64, top = 10;
};

void addOptions(CLI::App& app, Options& o) {
  app.add_option("-m,--model", o.model, "catalog name (see --list-models) or path to a Hugging Face config.json");
  app.add_option("--params", o.params, "raw parameter count (7B, 500M, 1.5e9) instead of --model");
  app.add_option("--layers", o.layers, "with --params: number of layers");
  app.add_option("--hidden", o.hidden, "with --params: hidden size");
  app.add_option("--heads", o.heads, "with --params: attention heads");
  app.add_option("--kv-heads", o.kvHeads, "with --params: key/value heads");
  app.add_option("--vocab", o.vocab, "with --params: vocabulary size (default 32000)");
  app.add_option("--method", o.method, "full, lora or qlora")->capture_default_str();
  app.add_option("--lora-rank", o.loraRank, "LoRA rank")->capture_default_str();
  app.add_option("--lora-alpha", o.loraAlpha, "LoRA alpha (scales updates; no memory effect)")->capture_default_str();
  app.add_option("--lora-targets", o.loraTargets, "q,k,v,o,gate,up,down or all-linear")->capture_default_str();
  app.add_option("--precision", o.precision, "fp32, mixed (fp16/bf16 with fp32 master), bf16 (pure) or fp8")
      ->capture_default_str();
  app.add_option("--optimizer", o.optimizer,
                 "adamw, adamw-8bit, paged-adamw, paged-adamw-8bit, sgd, sgd-momentum or adafactor")
      ->capture_default_str();
  app.add_option("--sharding", o.sharding, "none, zero1, zero2, zero3 (= fsdp)")->capture_default_str();
  app.add_option("--offload", o.offload, "none, optimizer, optimizer+params (CPU offload)")->capture_default_str();
  app.add_option("--recompute", o.recompute, "activation recompute: none, selective or full")->capture_default_str();
  app.add_option("--flash-attention", o.flash, "on or off")->capture_default_str();
  app.add_option("-b,--micro-batch", o.microBatch, "sequences per micro-batch per GPU")->capture_default_str();
  app.add_option("-s,--seq-len", o.seqLen, "tokens per sequence")->capture_default_str();
  app.add_option("--grad-accum", o.gradAccum, "gradient accumulation steps")->capture_default_str();
  app.add_option("--tp", o.tp, "tensor-parallel size (with sequence parallelism)")->capture_default_str();
  app.add_option("--pp", o.pp, "pipeline-parallel size (1F1B)")->capture_default_str();
  app.add_option("-g,--gpu", o.gpu, "GPU from the catalog (see --list-gpus)")->capture_default_str();
  app.add_option("--gpus-per-node", o.gpusPerNode, "GPUs per node")->capture_default_str();
  app.add_option("--nodes", o.nodes, "nodes")->capture_default_str();
  app.add_option("--network", o.network, "network between nodes (eth-100, roce-400, ib-ndr, ...); default: the GPU's");
  app.add_option("--nics-per-node", o.nicsPerNode, "network interfaces per node; default: the GPU's");
  app.add_option("--topology", o.topology, "JSON file with gpu, gpus_per_node, nodes, network, nics_per_node");
  app.add_option("--tokens", o.tokens, "dataset tokens per epoch (e.g. 500M)");
  app.add_option("--epochs", o.epochs, "epochs")->capture_default_str();
  app.add_option("--steps", o.steps, "optimizer steps (overrides --tokens x --epochs)");
  app.add_option("--mfu", o.knobs.mfu, "model-FLOPs utilisation; default: the GPU catalog's");
  app.add_option("--price", o.knobs.pricePerGpuHour, "USD per GPU-hour; default: the GPU catalog's");
  app.add_option("--overlap", o.knobs.overlap, "fraction of data-parallel communication hidden by backward")
      ->capture_default_str();
  app.add_option("--context-gib", o.knobs.contextGiB, "CUDA context and framework memory per GPU")->capture_default_str();
  app.add_option("--fragmentation", o.knobs.fragmentation, "allocator margin, fraction of allocated")
      ->capture_default_str();
  app.add_option("--loss-chunks", o.knobs.lossChunks, "chunked cross-entropy chunks (1: standard)")->capture_default_str();
  app.add_flag("--dropout", o.knobs.dropout, "count dropout masks in activations");
  app.add_flag("--json", o.json, "print JSON");
  app.add_flag("--markdown", o.markdown, "print Markdown");
  app.add_option("--html", o.html, "write a self-contained HTML report with SVG charts to this file");
  app.add_option("-o,--output", o.output, "write the printed output to this file instead of stdout");
  app.add_option("--data-dir", o.dataDir, "directory holding models.json and gpus.json");
}

int fail(const Status& s) {
  std::cerr << "loom plan: error: " << s.message() << "\n";
  return 1;
}

Result<PlanInput> buildInput(const Options& o, const CLI::App& app, const GpuCatalog& gpus, const ModelCatalog& models) {
  PlanInput in;
  if (!o.model.empty() && !o.params.empty()) return invalidArgument("give either --model or --params, not both");
  if (!o.model.empty()) {
    std::error_code ec;
    if (fs::is_regular_file(o.model, ec) || o.model.find('/') != std::string::npos ||
        (o.model.size() > 5 && o.model.substr(o.model.size() - 5) == ".json")) {
      auto text = readFile(o.model);
      if (!text) return text.status();
      auto m = modelFromHfConfig(*text, o.model);
      if (!m) return m.status();
      in.model = *m;
    } else {
      auto m = models.find(o.model);
      if (!m) return m.status();
      in.model = *m;
    }
  } else if (!o.params.empty()) {
    auto p = parseCount(o.params);
    if (!p) return invalidArgument("--params: " + p.status().message());
    auto m = modelFromParams(*p, o.layers, o.hidden, o.heads, o.kvHeads, o.vocab);
    if (!m) return m.status();
    in.model = *m;
  } else {
    return invalidArgument("no model: give --model NAME|config.json or --params N (see --list-models)");
  }
  auto method = parseMethod(o.method);
  if (!method) return method.status();
  in.method = *method;
  auto targets = parseLoraTargets(o.loraTargets);
  if (!targets) return targets.status();
  in.lora = LoraConfig{o.loraRank, o.loraAlpha, *targets};
  auto precision = parsePrecision(o.precision);
  if (!precision) return precision.status();
  in.precision = *precision;
  auto optimizer = parseOptimizer(o.optimizer);
  if (!optimizer) return optimizer.status();
  in.optimizer = *optimizer;
  auto sharding = parseSharding(o.sharding);
  if (!sharding) return sharding.status();
  in.sharding = *sharding;
  auto offload = parseOffload(o.offload);
  if (!offload) return offload.status();
  in.offload = *offload;
  auto recompute = parseRecompute(o.recompute);
  if (!recompute) return recompute.status();
  in.recompute = *recompute;
  if (o.flash != "on" && o.flash != "off")
    return invalidArgument(fmt::format("--flash-attention must be on or off (got '{}')", o.flash));
  in.flashAttention = o.flash == "on";
  in.microBatch = o.microBatch, in.seqLen = o.seqLen, in.gradAccum = o.gradAccum, in.tp = o.tp, in.pp = o.pp;

  // Hardware: topology file first, explicit flags win.
  std::string gpuName = o.gpu, netName = o.network;
  int gpn = o.gpusPerNode, nodes = o.nodes, nics = o.nicsPerNode;
  if (!o.topology.empty()) {
    auto text = readFile(o.topology);
    if (!text) return text.status();
    auto j = nlohmann::json::parse(*text, nullptr, false);
    if (j.is_discarded() || !j.is_object())
      return invalidArgument(fmt::format("topology file '{}' is not a JSON object", o.topology));
    // A field of the wrong type is an error naming it, never an exception out of the tool.
    const std::string origin = fmt::format("topology file '{}'", o.topology);
    IntFields ints(origin);
    Status bad;
    auto take = [&](const char* key, const char* flag, auto* out) {
      if (!j.contains(key) || app.count(flag) > 0 || !bad.isOk()) return;
      const auto& v = j[key];
      if constexpr (std::is_same_v<std::remove_pointer_t<decltype(out)>, std::string>) {
        if (v.is_string()) *out = v.get<std::string>();
        else bad = invalidArgument(fmt::format("{}: {} must be a string, got {}", origin, key, v.dump()));
      } else if (v.is_number()) {
        *out = ints.get<int>(v.get<double>(), key);
      } else {
        bad = invalidArgument(fmt::format("{}: {} must be a number, got {}", origin, key, v.dump()));
      }
    };
    take("gpu", "--gpu", &gpuName);
    take("gpus_per_node", "--gpus-per-node", &gpn);
    take("nodes", "--nodes", &nodes);
    take("network", "--network", &netName);
    take("nics_per_node", "--nics-per-node", &nics);
    LOOM_TRY(bad);
    LOOM_TRY(ints.status());
  }
  auto gpu = gpus.findGpu(gpuName);
  if (!gpu) return gpu.status();
  in.cluster.gpu = *gpu;
  in.cluster.gpusPerNode = gpn;
  in.cluster.nodes = nodes;
  auto net = gpus.findNetwork(netName.empty() ? gpu->defaultNetwork : netName);
  if (!net) return net.status();
  in.cluster.network = *net;
  in.cluster.nicsPerNode = nics > 0 ? nics : gpu->defaultNicsPerNode;
  if (nics < 0) return invalidArgument(fmt::format("--nics-per-node must be positive (got {})", nics));
  if (!o.tokens.empty()) {
    auto t = parseCount(o.tokens);
    if (!t) return invalidArgument("--tokens: " + t.status().message());
    in.work.tokens = *t;
  }
  if (!(o.epochs > 0)) return invalidArgument(fmt::format("--epochs must be positive (got {})", o.epochs));
  in.work.epochs = o.epochs;
  in.work.steps = o.steps;
  in.knobs = o.knobs;
  return in;
}

int emit(const Options& o, const std::string& text, const std::string& html) {
  if (!o.html.empty()) {
    std::ofstream f(o.html);
    if (!(f << html)) return fail(invalidArgument(fmt::format("cannot write '{}'", o.html)));
  }
  if (!o.output.empty()) {
    std::ofstream f(o.output);
    if (!(f << text)) return fail(invalidArgument(fmt::format("cannot write '{}'", o.output)));
  } else {
    std::cout << text;
  }
  return 0;
}

int listCatalogs(const Options& o, const GpuCatalog& gpus, const ModelCatalog& models) {
  if (o.listModels) {
    fmt::print("{:<18} {:>9} {:>7} {:>6} {:>6} {:>9} {:>7} {:>8}  {}\n", "model", "params", "layers", "hidden", "heads",
               "kv heads", "vocab", "context", "source");
    for (const auto& m : models.models()) {
      auto c = countParams(m);
      fmt::print("{:<18} {:>9} {:>7} {:>6} {:>6} {:>9} {:>7} {:>8}  {}\n", m.name, formatCount(c.total), m.layers,
                 m.hidden, m.heads, m.kvHeads, m.vocab, m.maxPositions, m.source);
    }
  }
  if (o.listGpus) {
    fmt::print("{:<16} {:>7} {:>8} {:>9} {:>8} {:>6} {:>8}  {}\n", "gpu", "GiB", "TB/s", "bf16 TF", "fp8 TF", "link",
               "$/hour", "price source (date)");
    for (const auto& g : gpus.gpus())
      fmt::print("{:<16} {:>7.0f} {:>8.2f} {:>9.0f} {:>8.0f} {:>6.0f} {:>8.2f}  {} ({})\n", g.name, g.memoryGiB,
                 g.memoryBandwidthGBs / 1000, g.bf16Tflops, g.fp8Tflops, g.intraGBs, g.pricePerHour, g.priceSource,
                 g.priceDate);
    fmt::print("\n{:<10} {:<16} {:>6} {:>10}\n", "network", "kind", "Gb/s", "latency us");
    for (const auto& n : gpus.networks()) fmt::print("{:<10} {:<16} {:>6.0f} {:>10.0f}\n", n.name, n.kind, n.gbps, n.latencyUs);
  }
  return 0;
}

}  // namespace

int runCli(int argc, char** argv) {
  CLI::App app{"loom plan: fine-tuning GPU planner (memory, time, network share, cost). "
               "Formulas and defaults: docs/planner.md",
               "plan"};
  app.set_help_all_flag("--help-all", "help for plan and recommend");
  Options o;
  addOptions(app, o);
  app.add_flag("--list-models", o.listModels, "list the model catalog");
  app.add_flag("--list-gpus", o.listGpus, "list the GPU and network catalog");
  CLI::App* rec = app.add_subcommand("recommend", "rank every catalog configuration (GPU type x count x sharding x "
                                                  "recompute) that fits, by cost and by time; explain rejections");
  rec->fallthrough();
  rec->add_option("--gpus", o.gpus, "comma-separated GPU names to consider (default: the whole catalog)");
  rec->add_option("--max-gpus", o.maxGpus, "largest GPU count to consider")->capture_default_str();
  rec->add_option("--top", o.top, "options shown per ranking (0: all)")->capture_default_str();
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }
  const std::string dir = findDataDir(o.dataDir);
  auto gpus = GpuCatalog::load((fs::path(dir) / "gpus.json").string());
  if (!gpus) return fail(gpus.status());
  auto models = ModelCatalog::load((fs::path(dir) / "models.json").string());
  if (!models) return fail(models.status());
  if (o.listModels || o.listGpus) return listCatalogs(o, *gpus, *models);
  if (o.json + o.markdown > 1) return fail(invalidArgument("choose one of --json and --markdown"));

  auto in = buildInput(o, app, *gpus, *models);
  if (!in) return fail(in.status());
  if (rec->parsed()) {
    RecommendOptions ro;
    ro.maxGpus = o.maxGpus;
    ro.keepNetwork = !o.network.empty();
    for (size_t start = 0; start < o.gpus.size();) {
      size_t end = o.gpus.find(',', start);
      if (end == std::string::npos) end = o.gpus.size();
      if (end > start) ro.gpus.push_back(o.gpus.substr(start, end - start));
      start = end + 1;
    }
    auto r = recommend(*in, *gpus, ro);
    if (!r) return fail(r.status());
    const std::string text = o.json ? toJson(*r, o.top).dump(1) + "\n" : o.markdown ? toMarkdown(*r, o.top) : toText(*r, o.top);
    return emit(o, text, o.html.empty() ? "" : toHtml(*r, o.top));
  }
  auto r = makePlan(*in);
  if (!r) return fail(r.status());
  const std::string text = o.json ? toJson(*r).dump(1) + "\n" : o.markdown ? toMarkdown(*r) : toText(*r);
  return emit(o, text, o.html.empty() ? "" : toHtml(*r));
}

}  // namespace loom::plan
