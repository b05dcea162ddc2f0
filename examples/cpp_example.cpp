// The C++ wrapper: RAII communicator, typed calls, nonblocking requests.
// Run with: loomrun -n 2 ./cpp_example
#include <loom/loom.hpp>

#include <cstdio>
#include <vector>

int main() {
  try {
    auto comm = loom::Comm::fromEnv();
    std::vector<double> grads(1 << 16, comm.rank() + 1.0), sum(grads.size());
    auto pending = comm.allReduceAsync(grads.data(), sum.data(), grads.size());
    // ... overlap computation here ...
    pending.wait();
    double expect = comm.size() * (comm.size() + 1) / 2.0;
    std::printf("rank %d: sum[0] = %g (expected %g)\n", comm.rank(), sum[0], expect);
    return sum[0] == expect ? 0 : 1;
  } catch (const loom::Error& e) {
    std::fprintf(stderr, "loom error: %s\n", e.what());
    return 1;
  }
}
