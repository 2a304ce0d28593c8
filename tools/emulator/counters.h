// Process-wide counters of the emulated devices, appended as one JSON line
// to $V4L2_EMU_COUNTERS at process exit (contract in docs/emulator.md).
#pragma once

#include <atomic>
#include <chrono>
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
  // Hardware timing (V4L2_EMU_DECODE_US): jobs run, jobs whose backend
  // decode alone took longer than the window, the backend's wall time per
  // job (sum and largest), the device's busy time, and how late pictures
  // were published after their window (sleep overshoot, a late worker).
  uint64_t jobs = 0;
  uint64_t jobs_over_budget = 0;
  uint64_t backend_us_total = 0;
  uint64_t backend_us_max = 0;
  uint64_t device_busy_us = 0;
  uint64_t late_us_total = 0;
  std::map<std::string, uint64_t> ioctls;
};

// How one job went against the device's timeline.
struct JobTiming {
  std::chrono::microseconds backend{0};  // the backend's decode
  bool over_budget = false;              // backend alone longer than the window
  std::chrono::microseconds busy{0};     // device time: max(window, backend)
  std::chrono::microseconds late{0};     // published this long after the window ended
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
  void job_timed(const JobTiming& timing);

  CounterSnapshot snapshot() const;
  void reset();
  // `decode_us` is the configured window, written beside the counters;
  // `extra_fields` (already JSON, `"name":value,...`) joins the object.
  std::string to_json(int pid, const std::string& profile, unsigned decode_us,
                      const std::string& extra_fields = {}) const;

 private:
  std::atomic<uint64_t> frames_decoded_{0}, errors_{0}, dpb_mismatches_{0},
      requests_allocated_{0}, max_in_flight_{0};
  std::atomic<int64_t> in_flight_{0};
  std::atomic<uint64_t> jobs_{0}, jobs_over_budget_{0}, backend_us_total_{0}, backend_us_max_{0},
      device_busy_us_{0}, late_us_total_{0};
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
