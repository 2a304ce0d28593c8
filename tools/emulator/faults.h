// Fault injection (V4L2_EMU_FAULTS, V4L2_EMU_FAULTS_SEED): what a real
// decoder and kernel do to a client on a bad day. Failed ioctls, failed
// mmap, spurious POLLERR, failed opens, decode jobs that end with
// V4L2_BUF_FLAG_ERROR, never end, end late or end by the driver's watchdog,
// and the device going away (video_unregister_device()). docs/emulator.md has
// the syntax and, per ioctl, the errnos Linux 6.12 can return and where from.
//
// Injected ioctl faults act at the ioctl's entry: the model is not called,
// so its state is what the kernel leaves when an ioctl fails before doing
// anything. Thread-safe; one instance per process (Emulator::faults()).
#pragma once

#include <linux/v4l2-controls.h>

#include <array>
#include <cstdint>
#include <map>
#include <mutex>
#include <random>
#include <string>
#include <string_view>
#include <vector>

namespace emu {

// What kind of emulated node an fd is (the unplug rules differ per node).
enum class NodeKind { Other, Video, Media, Request };

// What happens to a decode job when it starts.
enum class JobFaultKind {
  None,
  Error,    // completes at once with V4L2_BUF_FLAG_ERROR, nothing decoded
  Hang,     // never completes; STREAMOFF or close aborts it (ERROR)
  Slow,     // decodes, after an extra delay
  Timeout,  // ends with ERROR after the driver's watchdog (2 s on 6.12)
  Unplugged // the device went away: the job does not start
};

struct JobFault {
  JobFaultKind kind = JobFaultKind::None;
  unsigned delay_us = 0;  // Slow, Timeout
};

// One rule of V4L2_EMU_FAULTS: TARGET:ACTION[:TRIGGER...].
struct FaultRule {
  std::string target;  // "VIDIOC_QBUF", "mmap", "poll", "open", "job", "unplug"
  std::string action;  // "EINVAL", "POLLERR", "EINTR", "error", "hang", "slow", "timeout", "" (unplug)
  int error = 0;       // the errno, for ioctl/mmap/open rules
  JobFaultKind job = JobFaultKind::None;
  double probability = 1.0;
  uint64_t after = 0;             // only events after the first `after`
  uint64_t until = UINT64_MAX;    // only events up to number `until`
  uint64_t nth = 0;               // only event number `nth` (1-based); 0: any
  uint64_t max_count = UINT64_MAX;  // at most this many injections
  uint64_t until_idr = 0;         // only while fewer IDR pictures were submitted; 0: always
  unsigned delay_us = 0;          // job:slow:us=N, job:timeout:ms=N

  std::string kind() const { return action.empty() ? target : target + ":" + action; }
};

// Parses V4L2_EMU_FAULTS. Returns an error text (empty on success).
std::string parse_fault_rules(std::string_view spec, std::vector<FaultRule>& rules);

// Errnos a 6.12 kernel can return from `target` (an ioctl name, "mmap",
// "open"); empty for an unknown target.
const std::vector<int>& plausible_errnos(std::string_view target);
// "EINVAL" -> EINVAL; 0 when unknown.
int errno_from_name(std::string_view name);
std::string errno_name(int error);
// Every target with its actions, as one JSON object (V4L2_EMU_FAULTS=help).
std::string fault_targets_json();

struct FaultSnapshot {
  std::map<std::string, uint64_t> injected;  // per kind, "VIDIOC_QBUF:EINVAL", "job:hang", "unplug"
  uint64_t total = 0;
  // Where the client stood at the last injection: the H.264 pictures and
  // IDR pictures it had begun to submit (DECODE_PARAMS seen in S_EXT_CTRLS,
  // whether or not that call succeeded). -1: nothing injected yet.
  int64_t last_fault_picture = -1;
  int64_t last_fault_idr = -1;
  uint64_t pictures_seen = 0;
  uint64_t idr_seen = 0;
};

class Faults {
 public:
  Faults() = default;
  Faults(const Faults&) = delete;
  Faults& operator=(const Faults&) = delete;

  // Replaces the rules; resets counters and unplugged devices.
  void configure(std::vector<FaultRule> rules, uint64_t seed);
  bool active() const;

  // At the entry of an ioctl on an emulated fd (`device` its decoder, -1
  // for the render node). Returns the errno to fail it with, or 0.
  int on_ioctl(NodeKind node, int device, unsigned long request, const void* arg);
  // mmap of a video node: errno or 0.
  int on_mmap(int device);
  // open of /dev/videoN or /dev/mediaN (of a device still present): errno or 0.
  int on_open();
  // A poll/ppoll/select call that includes an emulated fd: EINTR (a signal
  // arrived) or 0.
  int on_poll_call();
  // The readiness poll reports for an emulated fd, after faults: an
  // unplugged node's, and for the result poll returns (`reported`), an
  // injected POLLERR on a video node.
  int on_poll(NodeKind node, int device, int events, bool reported);
  // A decode job of `device` is about to start.
  JobFault on_job_start(int device);

  // The device was unregistered (unplug rule fired).
  bool unplugged(int device) const;

  FaultSnapshot snapshot() const;
  // {"injected":{...},"total":N,"last_fault_picture":N,...}
  std::string to_json() const;
  void reset_counts();

 private:
  struct RuleState {
    FaultRule rule;
    uint64_t events = 0;
    uint64_t injected = 0;
    std::mt19937_64 random;
  };
  // Counts an event for every rule of `target` (and `action`, when given);
  // returns the first rule that fires, or null. Needs mutex_.
  RuleState* fire(std::string_view target, std::string_view action = {});
  void record_injection(const std::string& kind);
  void track_picture(const void* ext_controls);

  mutable std::mutex mutex_;
  std::vector<RuleState> rules_;
  bool any_ = false;
  std::array<bool, 256> unplugged_{};
  std::map<std::string, uint64_t> injected_;
  uint64_t total_ = 0;
  int64_t last_fault_picture_ = -1;
  int64_t last_fault_idr_ = -1;
  uint64_t pictures_seen_ = 0;
  uint64_t idr_seen_ = 0;
  bool have_last_params_ = false;
  v4l2_ctrl_h264_decode_params last_params_{};
};

}  // namespace emu
