#include "core/call_descriptor.hpp"

#include <fmt/format.h>

#include "core/communicator.hpp"

namespace loom::core {

using algo::Coll;
using algo::isReduction;
using algo::isRooted;

CallDescriptor descriptorOf(const CollCall& c) {
  return {static_cast<int32_t>(c.coll), static_cast<int32_t>(c.type), isReduction(c.coll) ? static_cast<int32_t>(c.op) : 0,
          isRooted(c.coll) ? c.root : 0, c.coll == Coll::AllToAllv ? 0 : c.count};
}

std::string describe(const CallDescriptor& d) {
  const auto coll = static_cast<Coll>(d.coll);
  std::string s = fmt::format("{}(count {}, {}", algo::collName(coll), d.count,
                              mem::typeName(static_cast<loomDataType_t>(d.type)));
  if (isReduction(coll)) s += fmt::format(", op {}", d.op);
  if (isRooted(coll)) s += fmt::format(", root {}", d.root);
  return s + ")";
}

const char* differingField(const CallDescriptor& a, const CallDescriptor& b) {
  if (a.coll != b.coll) return "collective";
  if (a.count != b.count) return "count";
  if (a.type != b.type) return "datatype";
  if (a.op != b.op) return "op";
  if (a.root != b.root) return "root";
  return nullptr;
}

}  // namespace loom::core
