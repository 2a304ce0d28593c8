// VA object IDs: one table per object kind, each with its own ID range, so an
// ID of the wrong kind is rejected instead of silently aliasing another object.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <vector>

namespace v4l2va {

template <class T>
class ObjectTable {
 public:
  explicit ObjectTable(uint32_t id_base) : base_(id_base), next_(id_base) {}

  uint32_t insert(std::shared_ptr<T> object) {
    std::lock_guard lock(mutex_);
    uint32_t id = next_++;
    if ((next_ & 0xff000000u) != base_) next_ = base_;  // wrap within the kind's range
    objects_[id] = std::move(object);
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

 private:
  mutable std::mutex mutex_;
  uint32_t base_;
  uint32_t next_;
  std::map<uint32_t, std::shared_ptr<T>> objects_;
};

}  // namespace v4l2va
