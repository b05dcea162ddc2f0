// The diagnostics port: every rank answers "what are you doing?" on a small TCP listener of its
// own thread, so that a rank whose operation timed out can name the ranks that never reached it,
// even while their progress threads are blocked. A rank that is stopped (SIGSTOP), hung in the
// kernel or cut off does not answer, which names it just as well.
//
// Query: 48 bytes {magic "loomdq01", the communicator's 16-byte secret, commId, sequence number
// asked about, asking rank}. Reply: a 4-byte little-endian length (at most kMaxReply) then JSON.
// Strangers (wrong magic, secret or communicator, short or slow queries) are dropped with a
// warning and never get an answer.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "bootstrap/bootstrap.hpp"
#include "core/control_port.hpp"
#include "core/progress_board.hpp"
#include "os/fd.hpp"

namespace loom::core {

namespace diagwire {
constexpr char kMagic[8] = {'l', 'o', 'o', 'm', 'd', 'q', '0', '1'};
constexpr uint32_t kMaxReply = 16 << 10;
struct Query {
  char magic[8];
  uint8_t secret[16];
  uint64_t commId;
  uint64_t seq;
  int32_t fromRank;
  uint32_t reserved;
};
static_assert(sizeof(Query) == 48);
}  // namespace diagwire

class DiagService {
 public:
  // Listens on the interface LOOM_SOCKET_IFNAME / LOOM_SOCKET_FAMILY select.
  static Result<std::unique_ptr<DiagService>> start(const bootstrap::Secret& secret, uint64_t commId, int rank,
                                                    std::shared_ptr<const ProgressBoard> board);
  ~DiagService();
  DiagService(const DiagService&) = delete;
  DiagService& operator=(const DiagService&) = delete;
  const ControlAddress& address() const { return address_; }

 private:
  DiagService() = default;
  void serve();
  void answer(int fd, const std::string& from);

  bootstrap::Secret secret_{};
  uint64_t commId_ = 0;
  int rank_ = 0;
  std::shared_ptr<const ProgressBoard> board_;
  os::UniqueFd listener_, stop_;  // stop_: eventfd the destructor signals
  ControlAddress address_;
  std::thread thread_;
};

// One peer's answer to the question about operation #seq.
struct PeerAnswer {
  enum class Kind { Answered, Gone, Silent, Bad };
  int rank = -1;
  Kind kind = Kind::Silent;
  ProgressSnapshot snap;  // when Answered
  std::string detail;     // why not, otherwise
};

// Asks every rank but `self` (empty addresses are skipped) in parallel; ranks that have not
// answered at the deadline, or when `cancelled` turns true, are Silent.
std::vector<PeerAnswer> askPeers(const std::vector<ControlAddress>& addrs, int self, const bootstrap::Secret& secret,
                                 uint64_t commId, uint64_t seq, Deadline deadline,
                                 const std::function<bool()>& cancelled);

// The report appended to a timeout: which ranks never reached operation #seq (idle, or still in
// an earlier one), which did not answer, and what those that reached it wait on. Pure.
std::string describeHang(uint64_t seq, double askedSeconds, const std::vector<PeerAnswer>& answers);

// JSON of a snapshot and back (the reply body); decoding errors name the field.
std::string snapshotToJson(int rank, const ProgressSnapshot& s);
Result<ProgressSnapshot> snapshotFromJson(const std::string& text);

}  // namespace loom::core
