// Fuzzes the planner's file decoders: a Hugging Face config.json (modelFromHfConfig), the model
// catalog (ModelCatalog::parse, data/models.json) and the GPU catalog (GpuCatalog::parse,
// data/gpus.json). The first input byte picks the decoder. A decoder must never throw (a json
// exception escaping is a crash) and what it accepts must be a valid model: one that
// validateModel accepts and whose parameter counts are finite.
#include <cmath>

#include "fuzz_check.hpp"
#include "gpu_catalog.hpp"
#include "model_spec.hpp"

using namespace loom::plan;

namespace {

void checkModel(const ModelSpec& m) {
  LOOM_FUZZ_CHECK(validateModel(m).isOk(), "a decoded model fails validateModel");
  ParamCounts c = countParams(m);
  LOOM_FUZZ_CHECK(std::isfinite(c.total) && std::isfinite(c.active) && std::isfinite(c.largestMatrix),
                  "parameter counts are not finite");
  LOOM_FUZZ_CHECK(std::isfinite(loraParamsPerLayer(m, ~0u, 16)), "LoRA counts are not finite");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const uint8_t mode = data[0];
  std::string text = loom::fuzz::text(data + 1, size - 1);
  switch (mode % 3) {
    case 0: {
      auto m = modelFromHfConfig(text, "fuzz");
      if (m) checkModel(*m);
      break;
    }
    case 1: {
      auto cat = ModelCatalog::parse(text, "fuzz");
      if (cat)
        for (const auto& m : cat->models()) checkModel(m);
      break;
    }
    default: {
      auto cat = GpuCatalog::parse(text, "fuzz");
      if (cat)
        for (const auto& g : cat->gpus()) LOOM_FUZZ_CHECK(g.memoryGiB > 0 && g.mfu > 0 && g.mfu <= 1, "bad GPU accepted");
      break;
    }
  }
  return 0;
}
