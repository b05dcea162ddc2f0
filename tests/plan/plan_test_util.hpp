// Shared helpers for the plan tests: the catalogs and a baseline input.
#pragma once

#include <gtest/gtest.h>

#include "gpu_catalog.hpp"
#include "model_spec.hpp"
#include "plan_types.hpp"

namespace loom::plan::test {

inline const ModelCatalog& models() {
  static ModelCatalog c = [] {
    auto r = ModelCatalog::load(PLAN_DATA_DIR "/models.json");
    if (!r) throw std::runtime_error(r.status().message());
    return *r;
  }();
  return c;
}

inline const GpuCatalog& gpus() {
  static GpuCatalog c = [] {
    auto r = GpuCatalog::load(PLAN_DATA_DIR "/gpus.json");
    if (!r) throw std::runtime_error(r.status().message());
    return *r;
  }();
  return c;
}

// One GPU of `gpu`, model `model`, everything else default.
inline PlanInput baseInput(const std::string& model, const std::string& gpu, int gpusPerNode = 1, int nodes = 1) {
  PlanInput in;
  in.model = *models().find(model);
  in.cluster.gpu = *gpus().findGpu(gpu);
  in.cluster.gpusPerNode = gpusPerNode;
  in.cluster.nodes = nodes;
  in.cluster.network = *gpus().findNetwork(in.cluster.gpu.defaultNetwork);
  in.cluster.nicsPerNode = in.cluster.gpu.defaultNicsPerNode;
  return in;
}

}  // namespace loom::plan::test
