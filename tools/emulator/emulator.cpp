#include "emulator.h"

#include <dirent.h>
#include <drm.h>
#include <fcntl.h>
#include <pthread.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string_view>

#include "media_device.h"
#include "request.h"
#include "video_device.h"

namespace emu {
namespace {

// The DRM render node libva opens. Only DRM_IOCTL_VERSION matters to libva
// 2.17 (drmGetVersion); the name is what a Rockchip board's DRM driver reports.
class RenderFile : public EmulatedFile {
 public:
  int ioctl(int, unsigned long request, void* arg) override {
    if (request == DRM_IOCTL_VERSION) return version(static_cast<drm_version*>(arg));
    if (request == DRM_IOCTL_GET_CAP) return -EINVAL;
    return -ENOTTY;
  }
  dev_t rdev() const override { return makedev(kDrmMajor, kRenderMinor); }

 private:
  // drm_copy_field(): copy what fits, always report the full length.
  static void copy_field(char* dst, size_t& len, const char* value) {
    const size_t full = std::strlen(value);
    if (dst && len) std::memcpy(dst, value, std::min(len, full));
    len = full;
  }
  static int version(drm_version* v) {
    if (!v) return -EFAULT;
    v->version_major = 1;
    v->version_minor = 0;
    v->version_patchlevel = 0;
    copy_field(v->name, v->name_len, "rockchip");
    copy_field(v->date, v->date_len, "20140818");
    copy_field(v->desc, v->desc_len, "RockChip Soc DRM");
    return 0;
  }
};

bool parse_node(std::string_view path, std::string_view prefix, unsigned& number) {
  if (!path.starts_with(prefix) || path.size() == prefix.size()) return false;
  unsigned value = 0;
  for (char c : path.substr(prefix.size())) {
    if (c < '0' || c > '9') return false;
    value = value * 10 + static_cast<unsigned>(c - '0');
    if (value > 255) return false;
  }
  number = value;
  return true;
}

std::vector<std::string> split_list(const std::string& text) {
  std::vector<std::string> items;
  size_t start = 0;
  while (start <= text.size()) {
    const size_t end = std::min(text.find(',', start), text.size());
    std::string item = text.substr(start, end - start);
    if (!item.empty()) items.push_back(item);
    start = end + 1;
  }
  return items;
}

struct stat fake_stat(mode_t type, dev_t rdev, ino_t ino) {
  struct stat st {};
  st.st_mode = type | (type == S_IFDIR ? 0755 : 0660);
  st.st_rdev = rdev;
  st.st_dev = makedev(0, 5);
  st.st_ino = ino;
  st.st_nlink = type == S_IFDIR ? 2 : 1;
  st.st_blksize = 4096;
  return st;
}

// Ends the process while the emulator is being built (bad settings, or
// V4L2_EMU_FAULTS=help): straight to the kernel, as the _exit/_Exit this
// library interposes would look the emulator up again.
[[noreturn]] void exit_at_start(int status) {
  std::fflush(stdout);
  std::fflush(stderr);
  ::syscall(SYS_exit_group, status);
  __builtin_unreachable();
}

}  // namespace

EmulatorConfig EmulatorConfig::from_environment() {
  EmulatorConfig config;
  if (const char* profile = std::getenv("V4L2_EMU_PROFILE"); profile && *profile)
    config.profile_name = profile;
  const char* devices = std::getenv("V4L2_EMU_DEVICES");
  const char* no_devices = std::getenv("V4L2_EMU_NO_DEVICES");
  if (devices && *devices) {
    config.device_profiles = split_list(devices);
    if (!config.device_profiles.empty() && !std::getenv("V4L2_EMU_PROFILE"))
      config.profile_name = config.device_profiles.front();
  } else if (!(no_devices && std::string_view(no_devices) == "1")) {
    config.device_profiles = {config.profile_name};
  }
  if (const char* us = std::getenv("V4L2_EMU_DECODE_US"))
    config.decode_us = static_cast<unsigned>(std::strtoul(us, nullptr, 10));
  if (const char* log = std::getenv("V4L2_EMU_LOG")) config.log = std::string_view(log) == "1";
  if (const char* path = std::getenv("V4L2_EMU_COUNTERS")) config.counters_path = path;
  if (const char* path = std::getenv("V4L2_EMU_RECORD")) config.record_path = path;
  if (const char* tiled = std::getenv("V4L2_EMU_CEDRUS_TILED"))
    config.cedrus_tiled = std::string_view(tiled) == "1";
  if (const char* faults = std::getenv("V4L2_EMU_FAULTS")) config.faults = faults;
  if (const char* seed = std::getenv("V4L2_EMU_FAULTS_SEED"))
    config.faults_seed = std::strtoull(seed, nullptr, 10);
  if (const char* mode = std::getenv("V4L2_EMU_DPB_CHECK")) {
    const std::string_view value(mode);
    if (value == "hardware") {
      config.dpb_check = DpbCheckMode::Hardware;
    } else if (!value.empty() && value != "strict") {
      std::fprintf(stderr, "v4l2-emulator: V4L2_EMU_DPB_CHECK=%s: expected strict or hardware\n", mode);
      exit_at_start(2);
    }
  }
  return config;
}

Emulator& Emulator::instance() {
  // Never destroyed: worker threads and late close() calls may still use it
  // while static destructors run at exit.
  static Emulator* emulator = new Emulator();
  return *emulator;
}

Emulator::Emulator() : owner_pid_(static_cast<int>(::getpid())) {
  if (const char* faults = std::getenv("V4L2_EMU_FAULTS"); faults && std::string_view(faults) == "help") {
    std::printf("%s\n", fault_targets_json().c_str());
    exit_at_start(0);
  }
  // A fault plan that cannot be read must not turn into a clean run that
  // looks like a pass: stop the client before it starts.
  if (const std::string error = configure(EmulatorConfig::from_environment()); !error.empty()) {
    std::fprintf(stderr, "v4l2-emulator: V4L2_EMU_FAULTS: %s\n", error.c_str());
    exit_at_start(2);
  }
  pthread_atfork(nullptr, nullptr, [] { Emulator::instance().after_fork_in_child(); });
}

std::string Emulator::configure(const EmulatorConfig& config) {
  std::vector<FaultRule> rules;
  std::string fault_error = parse_fault_rules(config.faults, rules);
  if (!fault_error.empty()) rules.clear();
  faults_.configure(std::move(rules), config.faults_seed);
  std::vector<std::shared_ptr<EmulatedDevice>> devices;
  for (const std::string& name : config.device_profiles) {
    const HardwareProfile* profile = find_profile(name);
    if (!profile) {
      std::fprintf(stderr, "v4l2-emulator: unknown profile '%s' ignored\n", name.c_str());
      continue;
    }
    devices.push_back(std::make_shared<EmulatedDevice>(static_cast<unsigned>(devices.size()),
                                                       *profile, *this));
  }
  std::lock_guard lock(mutex_);
  config_ = config;
  devices_ = std::move(devices);
  return fault_error;
}

void Emulator::set_backend_factory(BackendFactory factory) {
  std::lock_guard lock(mutex_);
  backend_factory_ = std::move(factory);
}

std::unique_ptr<H264Backend> Emulator::make_backend(DecodeMode mode, StartCode start_code) {
  BackendFactory factory;
  {
    std::lock_guard lock(mutex_);
    factory = backend_factory_;
  }
  if (factory) return factory(mode, start_code);
#ifdef EMU_HAVE_H264_BACKEND
  return H264Backend::create(mode, start_code);
#else
  return nullptr;
#endif
}

EmulatorConfig Emulator::config() const {
  std::lock_guard lock(mutex_);
  return config_;
}

std::shared_ptr<EmulatedDevice> Emulator::device_for_minor(unsigned major, unsigned minor) const {
  std::shared_ptr<EmulatedDevice> device;
  {
    std::lock_guard lock(mutex_);
    if ((major == kVideoMajor || major == kMediaMajor) && minor < devices_.size())
      device = devices_[minor];
  }
  // An unplugged device's nodes are gone from /dev and /sys (device_del()
  // -> devtmpfs): open and stat find nothing (ENOENT from the real call).
  if (device && faults_.unplugged(static_cast<int>(device->index()))) return nullptr;
  return device;
}

std::optional<int> Emulator::open_path(const char* path, int flags) {
  if (!path) return std::nullopt;
  const std::string_view view(path);
  unsigned number = 0;
  const int memfd_flags = (flags & O_CLOEXEC) ? MFD_CLOEXEC : 0;
  if (view == "/dev/dri/renderD128") {
    const int fd = static_cast<int>(::syscall(SYS_memfd_create, "emu-renderD128", memfd_flags));
    if (fd < 0) return -errno;
    fds_.insert(fd, std::make_shared<RenderFile>());
    return fd;
  }
  if (parse_node(view, "/dev/media", number)) {
    auto device = device_for_minor(kMediaMajor, number);
    if (!device) return std::nullopt;
    if (const int error = faults_.on_open()) return -error;
    const int fd = static_cast<int>(::syscall(SYS_memfd_create, "emu-media", memfd_flags));
    if (fd < 0) return -errno;
    fds_.insert(fd, std::make_shared<MediaFile>(std::move(device)));
    return fd;
  }
  if (parse_node(view, "/dev/video", number)) {
    auto device = device_for_minor(kVideoMajor, number);
    if (!device) return std::nullopt;
    if (const int error = faults_.on_open()) return -error;
    int fd = -1, error = 0;
    auto instance = M2mInstance::create(std::move(device), flags, fd, error);
    if (!instance) return error;
    fds_.insert(fd, std::make_shared<VideoFile>(std::move(instance)));
    return fd;
  }
  return std::nullopt;
}

std::optional<struct stat> Emulator::stat_path(const char* path) {
  if (!path) return std::nullopt;
  const std::string_view view(path);
  unsigned number = 0;
  if (view == "/dev/dri/renderD128")
    return fake_stat(S_IFCHR, makedev(kDrmMajor, kRenderMinor), 0x7e0000 + kRenderMinor);
  // libdrm's drmGetNodeTypeFromFd() checks that this directory exists.
  if (view == "/sys/dev/char/226:128/device/drm" || view == "/sys/dev/char/226:128/device/drm/" ||
      view == "/sys/dev/char/226:128" || view == "/sys/dev/char/226:128/device")
    return fake_stat(S_IFDIR, 0, 0x7e1000);
  if (parse_node(view, "/dev/media", number) && device_for_minor(kMediaMajor, number))
    return fake_stat(S_IFCHR, makedev(kMediaMajor, number), 0x7e2000 + number);
  if (parse_node(view, "/dev/video", number) && device_for_minor(kVideoMajor, number))
    return fake_stat(S_IFCHR, makedev(kVideoMajor, number), 0x7e3000 + number);
  return std::nullopt;
}

std::optional<std::string> Emulator::sysfs_text(const char* path) {
  if (!path) return std::nullopt;
  unsigned major_number = 0, minor_number = 0;
  char tail[16] = {};
  if (std::sscanf(path, "/sys/dev/char/%u:%u/%15s", &major_number, &minor_number, tail) != 3 ||
      std::string_view(tail) != "uevent")
    return std::nullopt;
  std::string name;
  if (major_number == kDrmMajor && minor_number == kRenderMinor) {
    name = "dri/renderD128";
  } else if (device_for_minor(major_number, minor_number)) {
    name = (major_number == kVideoMajor ? "video" : "media") + std::to_string(minor_number);
  } else {
    return std::nullopt;
  }
  return "MAJOR=" + std::to_string(major_number) + "\nMINOR=" + std::to_string(minor_number) +
         "\nDEVNAME=" + name + "\n";
}

bool Emulator::patch_fstat(int fd, struct stat& st) {
  std::shared_ptr<EmulatedFile> file = fds_.find(fd);
  if (!file || file->rdev() == 0) return false;
  st.st_mode = S_IFCHR | 0660;
  st.st_rdev = file->rdev();
  st.st_size = 0;
  st.st_blocks = 0;
  return true;
}

void Emulator::log(const char* format, ...) {
  if (!config().log) return;
  char message[1024];
  va_list args;
  va_start(args, format);
  std::vsnprintf(message, sizeof(message), format, args);
  va_end(args);
  std::fprintf(stderr, "v4l2-emulator[%d]: %s\n", static_cast<int>(::getpid()), message);
}

void Emulator::record(const std::string& json_line) {
  const std::string path = config().record_path;
  if (!path.empty()) append_line(path, json_line);
}

void Emulator::write_counters_at_exit() {
  const EmulatorConfig current = config();
  if (current.counters_path.empty() || ::getpid() != owner_pid_) return;
  // Once per process: _exit() and the destructor may both get here.
  if (counters_written_.exchange(true)) return;
  append_line(current.counters_path,
              counters_.to_json(owner_pid_, current.profile_name, current.decode_us,
                                exit_state_json()));
}

// What is still open when the process exits: every fd, the emulated ones,
// and mappings of emulated buffers (a client that closed everything it
// opened has only its own fds left and no buffer mapping).
std::string Emulator::exit_state_json() {
  int open_fds = 0;
  if (DIR* dir = ::opendir("/proc/self/fd")) {
    while (const dirent* entry = ::readdir(dir))
      if (entry->d_name[0] != '.') ++open_fds;
    ::closedir(dir);
    --open_fds;  // the directory's own fd
  }
  int buffer_mappings = 0;
  if (FILE* maps = std::fopen("/proc/self/maps", "re")) {
    char line[512];
    while (std::fgets(line, sizeof(line), maps))
      if (std::strstr(line, "memfd:emu-output") || std::strstr(line, "memfd:emu-capture"))
        ++buffer_mappings;
    std::fclose(maps);
  }
  const std::map<NodeKind, size_t> emulated = fds_.count_by_kind();
  size_t emulated_total = 0;
  std::string by_kind;
  for (const auto& [kind, count] : emulated) {
    static const char* const names[] = {"render", "video", "media", "request"};
    by_kind += std::string(by_kind.empty() ? "" : ",") + "\"" + names[static_cast<int>(kind)] +
               "\":" + std::to_string(count);
    emulated_total += count;
  }
  return "\"fds_at_exit\":" + std::to_string(open_fds) +
         ",\"emulated_fds_at_exit\":" + std::to_string(emulated_total) +
         ",\"emulated_fds_by_kind\":{" + by_kind + "}" +
         ",\"buffer_mappings_at_exit\":" + std::to_string(buffer_mappings) +
         ",\"faults\":" + faults_.to_json();
}

void Emulator::after_fork_in_child() {
  counters_.reset();
  counters_written_ = false;
  faults_.reset_counts();
  owner_pid_ = static_cast<int>(::getpid());
}

}  // namespace emu
