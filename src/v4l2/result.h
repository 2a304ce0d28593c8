// The driver's one error convention besides a bare VAStatus: a value or the
// VA status saying why there is none. Failure is spelled out (Failed{st}) so
// that a status can never be mistaken for a value of an integer type.
#pragma once

#include <va/va.h>

#include <cassert>
#include <optional>
#include <utility>

namespace v4l2va {

struct Failed {
  VAStatus status;
};

template <class T>
class [[nodiscard]] Result {
 public:
  Result(T value) : status_(VA_STATUS_SUCCESS), value_(std::move(value)) {}
  Result(Failed failed) : status_(failed.status) { assert(failed.status != VA_STATUS_SUCCESS); }

  bool ok() const { return status_ == VA_STATUS_SUCCESS; }
  VAStatus status() const { return status_; }
  T& value() {
    assert(ok());
    return *value_;
  }
  const T& value() const {
    assert(ok());
    return *value_;
  }
  T* operator->() { return &value(); }
  T& operator*() { return value(); }

 private:
  VAStatus status_;
  std::optional<T> value_;
};

}  // namespace v4l2va
