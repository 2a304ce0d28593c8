// Two moments at which every decoder stands still in the same state (its
// compositor queue full, its VA context alive), so the process's open fds and
// RSS at "start" and "end" are comparable.
#pragma once

#include <barrier>
#include <cstdint>
#include <functional>

#include "process_stats.h"

namespace firefox_client {

struct ProcessSample {
  int open_fds = -1;
  int64_t rss_kb = -1;
};

class SamplePoints {
 public:
  explicit SamplePoints(uint32_t decoders)
      : start_barrier_(decoders, StartCompletion{this}), end_barrier_(decoders, EndCompletion{this}) {}

  // Each decoder calls each of these exactly once; the last to arrive samples.
  void ArriveAtStart() { start_barrier_.arrive_and_wait(); }
  void ArriveAtEnd() { end_barrier_.arrive_and_wait(); }

  ProcessSample start() const { return start_; }
  ProcessSample end() const { return end_; }

 private:
  static ProcessSample Take() { return {CountOpenFds(), ResidentSetKb()}; }
  struct StartCompletion {
    SamplePoints* points;
    void operator()() noexcept { points->start_ = Take(); }
  };
  struct EndCompletion {
    SamplePoints* points;
    void operator()() noexcept { points->end_ = Take(); }
  };

  ProcessSample start_;
  ProcessSample end_;
  std::barrier<StartCompletion> start_barrier_;
  std::barrier<EndCompletion> end_barrier_;
};

}  // namespace firefox_client
