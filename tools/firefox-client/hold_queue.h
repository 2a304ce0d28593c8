// The compositor side of the pattern: it keeps the last few pictures it was
// given and lets them go in an order of its own choosing, as a compositor
// holding dma-bufs for several outputs and buffer swaps does.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>
#include <random>
#include <utility>

namespace firefox_client {

template <typename Held>
class HoldQueue {
 public:
  // `capacity` pictures are held; a new one beyond that releases one of them.
  // Seed 0 releases the oldest (in order); any other seed picks uniformly at
  // random among those held, reproducibly for that seed.
  HoldQueue(size_t capacity, uint32_t seed) : capacity_(capacity), shuffled_(seed != 0), random_(seed) {}

  // Holds `item`; returns the picture released to make room, if any.
  std::optional<Held> Push(Held item) {
    held_.push_back(std::move(item));
    if (held_.size() <= capacity_) return std::nullopt;
    return TakeOne();
  }

  // Releases one held picture (the compositor's choice); nullopt when empty.
  std::optional<Held> TakeOne() {
    if (held_.empty()) return std::nullopt;
    size_t victim = 0;
    if (shuffled_) victim = std::uniform_int_distribution<size_t>(0, held_.size() - 1)(random_);
    Held released = std::move(held_[victim]);
    held_.erase(held_.begin() + std::ptrdiff_t(victim));
    return released;
  }

  size_t size() const { return held_.size(); }
  size_t capacity() const { return capacity_; }

 private:
  size_t capacity_;
  bool shuffled_;
  std::mt19937 random_;
  std::deque<Held> held_;
};

}  // namespace firefox_client
