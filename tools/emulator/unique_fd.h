// RAII owners for the emulator's own file descriptors and mappings. They
// release through raw syscalls, not libc, so that releasing never re-enters
// the emulator's own close()/munmap() interposers.
#pragma once

#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <utility>

namespace emu {

inline int sys_close(int fd) { return static_cast<int>(::syscall(SYS_close, fd)); }

class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  UniqueFd(UniqueFd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept {
    if (this != &other) reset(std::exchange(other.fd_, -1));
    return *this;
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  ~UniqueFd() { reset(); }

  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  int release() { return std::exchange(fd_, -1); }
  void reset(int fd = -1) {
    if (fd_ >= 0) sys_close(fd_);
    fd_ = fd;
  }

 private:
  int fd_ = -1;
};

// A shared read/write mapping of a whole memfd, owned by the model.
class Mapping {
 public:
  Mapping() = default;
  Mapping(void* addr, size_t length) : addr_(addr), length_(length) {}
  Mapping(Mapping&& other) noexcept
      : addr_(std::exchange(other.addr_, nullptr)), length_(std::exchange(other.length_, 0)) {}
  Mapping& operator=(Mapping&& other) noexcept {
    if (this != &other) {
      unmap();
      addr_ = std::exchange(other.addr_, nullptr);
      length_ = std::exchange(other.length_, 0);
    }
    return *this;
  }
  Mapping(const Mapping&) = delete;
  Mapping& operator=(const Mapping&) = delete;
  ~Mapping() { unmap(); }

  uint8_t* data() const { return static_cast<uint8_t*>(addr_); }
  size_t size() const { return length_; }
  bool valid() const { return addr_ != nullptr; }

 private:
  void unmap() {
    if (addr_) ::syscall(SYS_munmap, addr_, length_);
    addr_ = nullptr;
    length_ = 0;
  }
  void* addr_ = nullptr;
  size_t length_ = 0;
};

// memfd of `size` bytes plus the model's own mapping of it.
struct SharedMemory {
  UniqueFd fd;
  Mapping mapping;
  static bool create(const char* name, size_t size, SharedMemory& out);
};

}  // namespace emu
