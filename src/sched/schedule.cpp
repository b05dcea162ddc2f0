#include "sched/schedule.hpp"

namespace loom::sched {

uint32_t Schedule::add(const Step& step, std::initializer_list<uint32_t> after) {
  return add(step, std::vector<uint32_t>(after));
}

uint32_t Schedule::add(const Step& step, const std::vector<uint32_t>& after) {
  Step s = step;
  s.firstDep = static_cast<uint32_t>(deps.size());
  s.numDeps = static_cast<uint32_t>(after.size());
  deps.insert(deps.end(), after.begin(), after.end());
  steps.push_back(s);
  return static_cast<uint32_t>(steps.size() - 1);
}

Step send(int peer, Span src) { return Step{StepKind::Send, peer, src, {}, 0, 0}; }
Step recv(int peer, Span dst) { return Step{StepKind::Recv, peer, {}, dst, 0, 0}; }
Step recvReduce(int peer, Span localOperand, Span dst) {
  return Step{StepKind::RecvReduce, peer, localOperand, dst, 0, 0};
}
Step copy(Span src, Span dst) { return Step{StepKind::Copy, -1, src, dst, 0, 0}; }
Step reduce(Span src, Span dst) { return Step{StepKind::Reduce, -1, src, dst, 0, 0}; }

}  // namespace loom::sched
