// Process-wide counters of the emulated devices, appended as one JSON line
// to $V4L2_EMU_COUNTERS at process exit (contract in docs/emulator.md).
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>

namespace emu {

struct CounterSnapshot {
  uint64_t frames_decoded = 0;
  uint64_t errors = 0;
  uint64_t dpb_mismatches = 0;
  uint64_t requests_allocated = 0;
  uint64_t max_requests_in_flight = 0;
  std::map<std::string, uint64_t> ioctls;
};

class Counters {
 public:
  void count_ioctl(unsigned long request);
  void frame_decoded() { frames_decoded_++; }
  void error() { errors_++; }
  void dpb_mismatch() { dpb_mismatches_++; }
  void request_allocated() { requests_allocated_++; }
  void request_queued();
  void request_completed() { in_flight_--; }

  CounterSnapshot snapshot() const;
  void reset();
  // `extra_fields` (already JSON, `"name":value,...`) joins the object.
  std::string to_json(int pid, const std::string& profile, const std::string& extra_fields = {}) const;

 private:
  std::atomic<uint64_t> frames_decoded_{0}, errors_{0}, dpb_mismatches_{0},
      requests_allocated_{0}, max_in_flight_{0};
  std::atomic<int64_t> in_flight_{0};
  mutable std::mutex ioctl_mutex_;
  std::map<std::string, uint64_t> ioctls_;
};

// The symbolic name of a V4L2/media/DRM ioctl request ("VIDIOC_QBUF"), or its
// hexadecimal number for ones the emulator does not know.
std::string ioctl_name(unsigned long request);

// Appends `line` + '\n' to `path` with one write (O_APPEND keeps lines of
// concurrent processes whole).
bool append_line(const std::string& path, const std::string& line);

}  // namespace emu
