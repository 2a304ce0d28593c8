// The emulator as a whole: configuration from the environment, the emulated
// devices, the fd table, counters, and the C++ API tests drive it through.
#pragma once

#include <sys/stat.h>

#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "counters.h"
#include "dpb_check.h"
#include "faults.h"
#include "fd_table.h"
#include "h264_backend.h"

namespace emu {

class EmulatedDevice;

// Device numbers real Linux uses: media 238:N (dynamic, typical), video 81:N, DRM 226:N.
inline constexpr unsigned kVideoMajor = 81;
inline constexpr unsigned kMediaMajor = 238;
inline constexpr unsigned kDrmMajor = 226;
inline constexpr unsigned kRenderMinor = 128;

struct EmulatorConfig {
  std::vector<std::string> device_profiles;  // one entry per /dev/mediaN + /dev/videoN
  std::string profile_name = "hantro";       // for the counters line
  unsigned decode_us = 0;                    // per-frame decode time
  bool log = false;                          // V4L2_EMU_LOG
  std::string counters_path;                 // V4L2_EMU_COUNTERS
  std::string record_path;                   // V4L2_EMU_RECORD
  bool cedrus_tiled = false;                 // V4L2_EMU_CEDRUS_TILED=1: cedrus without UNTILED
  std::string faults;                        // V4L2_EMU_FAULTS (faults.h)
  uint64_t faults_seed = 1;                  // V4L2_EMU_FAULTS_SEED
  DpbCheckMode dpb_check = DpbCheckMode::Strict;  // V4L2_EMU_DPB_CHECK
  static EmulatorConfig from_environment();
};

using BackendFactory =
    std::function<std::unique_ptr<H264Backend>(DecodeMode mode, StartCode start_code)>;

class Emulator {
 public:
  static Emulator& instance();

  // Replaces devices and settings. Meant for tests: call with no emulated fd
  // open. Returns an error text for a bad V4L2_EMU_FAULTS (then no fault is
  // injected).
  std::string configure(const EmulatorConfig& config);
  // The backend every new m2m instance gets (default: H264Backend::create when
  // the library was built with it, otherwise none, and decodes then fail).
  void set_backend_factory(BackendFactory factory);
  std::unique_ptr<H264Backend> make_backend(DecodeMode mode, StartCode start_code);

  EmulatorConfig config() const;
  FdTable& fds() { return fds_; }
  Counters& counters() { return counters_; }
  Faults& faults() { return faults_; }

  // Opens an emulated path. Returns nullopt when `path` is not emulated,
  // otherwise the new fd or -errno.
  std::optional<int> open_path(const char* path, int flags);
  // stat() of an emulated path (device nodes, the sysfs drm directory).
  std::optional<struct stat> stat_path(const char* path);
  // Content of a sysfs text file describing an emulated node (the
  // /sys/dev/char/MAJ:MIN/uevent that v4l-utils reads to classify a node).
  std::optional<std::string> sysfs_text(const char* path);
  // fstat() of an emulated fd: the backing fd's stat made into a char device.
  bool patch_fstat(int fd, struct stat& st);

  void log(const char* format, ...) __attribute__((format(printf, 2, 3)));
  void record(const std::string& json_line);
  void write_counters_at_exit();
  // The fields of the counters line that describe the process at exit.
  std::string exit_state_json();
  void after_fork_in_child();

 private:
  Emulator();
  std::shared_ptr<EmulatedDevice> device_for_minor(unsigned major, unsigned minor) const;

  mutable std::mutex mutex_;
  EmulatorConfig config_;
  std::vector<std::shared_ptr<EmulatedDevice>> devices_;
  BackendFactory backend_factory_;
  FdTable fds_;
  Counters counters_;
  Faults faults_;
  int owner_pid_ = 0;
  std::atomic<bool> counters_written_{false};
};

}  // namespace emu
