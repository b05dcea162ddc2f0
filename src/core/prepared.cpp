#include "core/prepared.hpp"

#include <algorithm>

namespace loom::core {

PreparedSchedule PreparedSchedule::prepare(sched::Schedule s, int nranks, bool receivesCopy) {
  PreparedSchedule p;
  p.receivesCopy = receivesCopy;
  const auto& steps = s.steps;
  const size_t n = steps.size();
  p.initialDeps.resize(n);
  p.dependentsStart.assign(n + 1, 0);
  for (size_t i = 0; i < n; ++i) {
    p.initialDeps[i] = steps[i].numDeps;
    for (uint32_t d = 0; d < steps[i].numDeps; ++d) p.dependentsStart[s.deps[steps[i].firstDep + d] + 1]++;
  }
  for (size_t i = 0; i < n; ++i) p.dependentsStart[i + 1] += p.dependentsStart[i];
  p.dependents.resize(p.dependentsStart[n]);
  std::vector<uint32_t> fill(p.dependentsStart.begin(), p.dependentsStart.end() - 1);
  for (size_t i = 0; i < n; ++i)
    for (uint32_t d = 0; d < steps[i].numDeps; ++d) p.dependents[fill[s.deps[steps[i].firstDep + d]]++] = static_cast<uint32_t>(i);

  p.sendsTo.resize(nranks);
  p.recvsFrom.resize(nranks);
  for (size_t i = 0; i < n; ++i) {
    const auto& st = steps[i];
    if (st.kind == sched::StepKind::Send) p.sendsTo[st.peer].push_back(static_cast<uint32_t>(i));
    if (st.kind == sched::StepKind::Recv || st.kind == sched::StepKind::RecvReduce)
      p.recvsFrom[st.peer].push_back(static_cast<uint32_t>(i));
    if (st.numDeps == 0) p.roots.push_back(static_cast<uint32_t>(i));
    for (const sched::Span* sp : {&st.src, &st.dst}) {
      if (sp->bytes == 0) continue;
      if (sp->buf == sched::Buf::Input) p.inputExtent = std::max(p.inputExtent, sp->offset + sp->bytes);
      if (sp->buf == sched::Buf::Output) p.outputExtent = std::max(p.outputExtent, sp->offset + sp->bytes);
    }
  }
  p.schedule = std::move(s);
  return p;
}

}  // namespace loom::core
