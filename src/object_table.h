// VA object IDs: one table per object kind, each with its own ID range, so an
// ID of the wrong kind is rejected instead of silently aliasing another
// object. IDs are handed out in order and wrap within the range, skipping
// IDs still in use: an ID never names two live objects.
#pragma once

#include <va/va.h>

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <vector>

namespace v4l2va {

template <class T>
class ObjectTable {
 public:
  static constexpr uint32_t kRangeMask = 0x00ffffffu;

  explicit ObjectTable(uint32_t id_base) : base_(id_base), next_(0) {}

  // Returns the new ID, or VA_INVALID_ID when every ID of the range is in use.
  uint32_t insert(std::shared_ptr<T> object) {
    std::lock_guard lock(mutex_);
    if (objects_.size() > kRangeMask) return VA_INVALID_ID;
    uint32_t id;
    do {
      id = base_ | next_;
      next_ = (next_ + 1) & kRangeMask;
    } while (objects_.count(id));
    objects_.emplace(id, std::move(object));
    return id;
  }
  std::shared_ptr<T> find(uint32_t id) const {
    std::lock_guard lock(mutex_);
    auto it = objects_.find(id);
    return it == objects_.end() ? nullptr : it->second;
  }
  std::shared_ptr<T> remove(uint32_t id) {
    std::lock_guard lock(mutex_);
    auto it = objects_.find(id);
    if (it == objects_.end()) return nullptr;
    auto object = std::move(it->second);
    objects_.erase(it);
    return object;
  }
  std::vector<std::shared_ptr<T>> all() const {
    std::lock_guard lock(mutex_);
    std::vector<std::shared_ptr<T>> out;
    out.reserve(objects_.size());
    for (auto& [id, obj] : objects_) out.push_back(obj);
    return out;
  }
  // Drops every object; the objects die outside the table's lock.
  void clear() {
    std::map<uint32_t, std::shared_ptr<T>> objects;
    {
      std::lock_guard lock(mutex_);
      objects.swap(objects_);
    }
  }
  size_t size() const {
    std::lock_guard lock(mutex_);
    return objects_.size();
  }
  // Tests: where the next ID search starts, to reach the wrap without 2^24
  // creations.
  void set_next_for_test(uint32_t next) {
    std::lock_guard lock(mutex_);
    next_ = next & kRangeMask;
  }

 private:
  mutable std::mutex mutex_;
  const uint32_t base_;
  uint32_t next_;
  std::map<uint32_t, std::shared_ptr<T>> objects_;
};

}  // namespace v4l2va
