// Helpers shared by the detection sources (sysfs, hwloc, NVML); not part of the topo API.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "topo/topology.hpp"

namespace loom::topo::detail {

bool readText(const std::string& path, std::string* out);  // whole file, trailing newline kept
bool readInt(const std::string& path, int64_t* out);       // first integer in the file
// "0000:00:03.0" from the last PCI address in a sysfs device path; empty if none.
std::string pciBusOfPath(const std::string& path);
// "00000000:18:00.0" (NVML) or "0000:18:00.0" -> "0000:18:00.0", lower case.
std::string normalizePciBus(std::string bus);
int pciNuma(const std::string& sysfsRoot, const std::string& bus);  // -1 if unknown

Status detectHwloc(Host* host);                                  // detect_hwloc.cpp
void detectNvmlGpus(const std::string& sysfsRoot, std::vector<Gpu>* gpus);  // detect_nvml.cpp

}  // namespace loom::topo::detail
